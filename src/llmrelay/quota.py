"""The limits of one answer: admitted before it starts, metered while it streams, settled at its end.

Routes call `admit` just before starting a generation (a refusal is `LimitExceeded`, which the
error handlers turn into a 429 with Retry-After), then `meter` once it started. `meter`
settles the permit when the generation ends, and, when the tenant has a budget, charges the
output as it arrives: once the budget is spent the generation is stopped with a failure saying
so (kind `insufficient_quota`), so the answer ends cleanly, as failed, with what there was of
it stored and its tokens recorded like any other answer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from llmrelay import accounting
from llmrelay.auth import Caller
from llmrelay.limiter import Limiter, Permit
from llmrelay.providers.base import (
    GenerationRequest,
    Provider,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
)
from llmrelay.streams import Failure, Generation, GenerationResult, OnEnd

log = logging.getLogger(__name__)

BUDGET_FAILURE_KIND = "insufficient_quota"


async def admit(
    limiter: Limiter | None,
    caller: Caller,
    provider: Provider,
    request: GenerationRequest,
    *,
    copies: int = 1,
) -> Permit | None:
    """A permit for this answer, or LimitExceeded. None: no limits apply (no keys, no limiter).

    `copies`: how many answers the request asks for (n choices), each its own generation of
    the same prompt: tokens are reserved for all of them, and the permit is one request and
    one stream (settle it once, with their sum: `settlers`)."""
    tenant = caller.tenant
    if limiter is None or tenant is None:
        return None
    max_tokens = request.max_tokens
    return await limiter.admit(
        tenant,
        prompt_tokens=lambda: copies * accounting.prompt_tokens(provider, request),
        max_output_tokens=None if max_tokens is None else copies * max_tokens,
    )


async def admit_input(
    limiter: Limiter | None, caller: Caller, prompt_tokens: Callable[[], int]
) -> Permit | None:
    """A permit for a call that reads input and writes no tokens (embeddings): the same
    limits, with nothing reserved for output. Settle it with what the call cost."""
    tenant = caller.tenant
    if limiter is None or tenant is None:
        return None
    return await limiter.admit(tenant, prompt_tokens=prompt_tokens, max_output_tokens=0)


def settler(permit: Permit, then: OnEnd | None) -> OnEnd:
    """An `on_end` that settles the permit with what the answer really cost (its usage, reported
    or estimated; none when it was refused), then runs `then`."""
    return settlers(permit, then, 1)[0]


def settlers(permit: Permit, then: OnEnd | None, copies: int) -> list[OnEnd]:
    """One `on_end` per answer of a request with `copies` of them (n choices): the permit is
    settled once, when the last has ended, with what they cost together; each runs `then`."""
    spent = [0, 0]
    left = [copies]

    async def settle(generation: Generation, result: GenerationResult) -> None:
        usage = result.usage
        if usage is not None:
            spent[0] += usage.input_tokens or 0
            spent[1] += usage.output_tokens or 0
        left[0] -= 1
        try:
            if left[0] == 0:
                await permit.settle(spent[0], spent[1])
        finally:  # the answer is recorded whatever became of its limits
            if then is not None:
                await then(generation, result)

    return [settle] * copies


def meter(generation: Generation, permit: Permit | None, label: str) -> None:
    """Charge the answer's output against the budget as it arrives (only when there is one)."""
    if permit is None or not permit.has_budget:
        return
    task = asyncio.get_running_loop().create_task(
        _charge_as_it_comes(generation, permit, label), name=f"meter-{generation.id}"
    )
    _running.add(task)
    task.add_done_callback(_running.discard)


def _written(event: object) -> str:
    """What an event adds to the answer's output tokens (reasoning and calls are output too)."""
    if isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
        return event.text
    if isinstance(event, ToolCallDelta):
        return (event.name or "") + event.arguments
    return ""


# Strong references: the loop keeps only weak ones to tasks.
_running: set[asyncio.Task[None]] = set()


async def _charge_as_it_comes(generation: Generation, permit: Permit, label: str) -> None:
    position = 0
    count = generation.provider.count_tokens
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            events = generation.log.read(position)
            position += len(events)
            for event in events:
                written = _written(event)
                if written and not await permit.charge(count(written)):
                    log.info("generation %s: the token budget of %s is spent, stopped", generation.id, label)
                    generation.stop(
                        Failure(
                            f"The token budget of {label} is spent; the answer was stopped here.",
                            429,
                            BUDGET_FAILURE_KIND,
                        )
                    )
                    return
            if generation.finished:
                return
            await generation.log.wait_beyond(position)

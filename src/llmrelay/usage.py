"""Token usage per answer, recorded against the caller's key when the answer ends.

Every route that asks a model records one row per answer (never per token): the provider's
counts where it reported them, estimates where it could not (a stream cancelled before its
usage event still cost tokens), nothing for a request the upstream refused outright.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmrelay.providers.base import ChatMessage, Provider, Usage
from llmrelay.store import Store
from llmrelay.streams import Generation, GenerationResult, OnEnd


def token_counts(
    usage: Usage | None, prompt_tokens: Callable[[], int], count_tokens: Callable[[str], int], text: str
) -> tuple[int, int]:
    """The provider's counts, or estimates where it reported none (a cancelled stream).
    `prompt_tokens` is called only when needed: counting a long prompt is not free."""
    usage = usage or Usage(None, None)
    prompt = prompt_tokens() if usage.input_tokens is None else usage.input_tokens
    output = count_tokens(text) if usage.output_tokens is None else usage.output_tokens
    return prompt, output


def prompt_counter(provider: Provider, messages: Sequence[ChatMessage]) -> int:
    return sum(provider.count_tokens(m.content) for m in messages)


def spent_tokens(
    result: GenerationResult, provider: Provider, messages: Sequence[ChatMessage]
) -> tuple[int | None, int | None]:
    if result.usage is None and result.failure is not None and not result.text:
        return None, None  # refused upstream: nothing spent
    return token_counts(
        result.usage, lambda: prompt_counter(provider, messages), provider.count_tokens, result.text
    )


def usage_recorder(
    store: Store | None,
    *,
    api_key_id: str | None,
    route: str,
    model: str,
    provider: Provider,
    messages: Sequence[ChatMessage],
) -> OnEnd:
    """An `on_end` that records the answer's tokens (a no-op without a store)."""

    async def record(generation: Generation, result: GenerationResult) -> None:
        if store is None:
            return
        input_tokens, output_tokens = spent_tokens(result, provider, messages)
        await store.record_usage(
            api_key_id=api_key_id,
            route=route,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )

    return record


def both(first: OnEnd, second: OnEnd) -> OnEnd:
    async def run(generation: Generation, result: GenerationResult) -> None:
        await first(generation, result)
        await second(generation, result)

    return run

"""A chat turn: the user's message stored, the history fitted, the answer generated and stored.

Writes happen twice per turn, never per token: the user's message (and an empty `streaming`
answer) before generation starts, and the answer once when the generation ends — complete,
or whatever there was of it with why it stopped (cancelled, error). A server killed in
between leaves a `streaming` row, which the store marks `interrupted` when it opens next.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmrelay.auth import ANONYMOUS, Caller
from llmrelay.history import fit_history, prompt_budget
from llmrelay.limiter import Permit
from llmrelay.providers.base import ChatMessage, GenerationRequest, Provider, ProviderError, Role
from llmrelay.runtime import Runtime
from llmrelay.store.records import HISTORY_STATUSES
from llmrelay.streams import Generation, GenerationResult, Identity

TITLE_CHARS = 60


class ConversationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Turn:
    conversation_id: str
    user_message_id: str
    message_id: str  # the answer's id; also its generation's id
    model: str
    generation: Generation


def title_from(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


async def start_turn(
    runtime: Runtime,
    provider: Provider,
    message: str,
    conversation_id: str | None,
    *,
    resumable: bool,
    caller: Caller = ANONYMOUS,
    route: str = "/api/chat",
) -> Turn:
    """Store the question, start the answer; raises ConversationNotFound (also for another
    tenant's conversation), LimitExceeded (nothing is stored then) or ProviderError."""
    store = runtime.store
    before: list[ChatMessage] = []
    if conversation_id is not None:
        if await store.get_conversation(caller.owner, conversation_id) is None:
            raise ConversationNotFound(conversation_id)
        before = [ChatMessage(_role(m.role), m.content) for m in await store.history(conversation_id)]
    # Limits first, on the whole history (fitting only shortens it): a refused turn stores nothing.
    permit = await runtime.pipeline.admit(
        caller, provider, GenerationRequest(messages=[*before, ChatMessage("user", message)])
    )
    try:
        return await _start(runtime, provider, message, conversation_id, resumable, caller, route, permit)
    except BaseException:
        if permit is not None:
            await permit.settle(0, 0)
        raise


async def _start(
    runtime: Runtime,
    provider: Provider,
    message: str,
    conversation_id: str | None,
    resumable: bool,
    caller: Caller,
    route: str,
    permit: Permit | None,
) -> Turn:
    store = runtime.store
    if conversation_id is None:
        conversation_id = (await store.create_conversation(caller.owner, title_from(message))).id
    user = await store.add_message(conversation_id, "user", message)
    earlier = await store.history(conversation_id)
    history = [
        ChatMessage(_role(m.role), m.content)
        for m in earlier
        if m.status in HISTORY_STATUSES and (m.content or m.role != "assistant")
    ]
    budget = prompt_budget(provider.info.context_tokens, runtime.settings.max_output_tokens)
    model = provider.info.model
    answer = await store.add_message(
        conversation_id, "assistant", "", status="streaming", provider=provider.info.name, model=model
    )
    try:
        fitted = fit_history(history, provider.count_tokens, budget)
    except ProviderError as exc:
        await store.finish_message(
            answer.id,
            content="",
            status="error",
            finish_reason="error",
            input_tokens=None,
            output_tokens=None,
            ttft_ms=None,
            duration_ms=None,
            error=exc.message,
        )
        raise

    async def record(generation: Generation, result: GenerationResult) -> None:
        await store.finish_message(
            answer.id,
            content=result.text,
            status=_status(result),
            finish_reason=result.finish_reason,
            input_tokens=result.usage.input_tokens if result.usage else None,
            output_tokens=result.usage.output_tokens if result.usage else None,
            ttft_ms=None if result.ttft_seconds is None else result.ttft_seconds * 1000,
            duration_ms=result.duration_seconds * 1000,
            error=result.failure.message if result.failure else None,
        )

    generation = runtime.pipeline.start(
        provider,
        GenerationRequest(messages=fitted),
        Identity(route=route, model=model, key_id=caller.key_id, owner=caller.owner),
        resumable=resumable,
        on_end=record,
        generation_id=answer.id,
        meta={"conversation_id": conversation_id, "user_message_id": user.id, "model": model},
        permit=permit,
        label=caller.label,
    )
    return Turn(conversation_id, user.id, answer.id, model, generation)


def _role(role: str) -> Role:
    return "assistant" if role == "assistant" else "system" if role == "system" else "user"


def _status(result: GenerationResult) -> str:
    if result.failure is not None:
        return "error"
    if result.finish_reason == "cancelled":
        return "cancelled"
    return "complete"

"""A chat turn: the user's message stored, the history fitted, the answer generated and stored.

Writes happen twice per turn, never per token: the user's message (and an empty `streaming`
answer) before generation starts, and the answer once when the generation ends — complete,
or whatever there was of it with why it stopped (cancelled, error). A server killed in
between leaves a `streaming` row, which the store marks `interrupted` when it opens next.

Regenerating answers the last question again from the same history: the old answer's row is
deleted and the new answer's `streaming` row takes its place, in one transaction, so a
conversation holds one answer per question (what the old one cost stays in the usage rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmrelay.auth import ANONYMOUS, Caller
from llmrelay.history import fit_history, prompt_budget
from llmrelay.limiter import Permit
from llmrelay.providers.base import ChatMessage, GenerationRequest, Provider, ProviderError, Role
from llmrelay.runtime import Runtime
from llmrelay.store import NotFound
from llmrelay.store.records import HISTORY_STATUSES, MessageRecord, ToolCallRecord
from llmrelay.streams import Generation, GenerationResult, Identity

TITLE_CHARS = 60


class ConversationNotFound(LookupError):
    pass


class AnswerNotFound(LookupError):
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
    model_name: str | None = None,
    images: Sequence[str] = (),
) -> Turn:
    """Store the question (with its images), start the answer; raises ConversationNotFound
    (also for another tenant's conversation), LimitExceeded (nothing is stored then) or
    ProviderError. `model_name` is the name the caller chose the model by (kept with the
    answer, so the conversation reopens on it); default: the provider's own model name."""
    store = runtime.store
    before: list[ChatMessage] = []
    if conversation_id is not None:
        if await store.get_conversation(caller.owner, conversation_id) is None:
            raise ConversationNotFound(conversation_id)
        before = history_messages(await store.history(conversation_id), provider)
    question = ChatMessage("user", message, images=tuple(images))
    # Limits first, on the whole history (fitting only shortens it): a refused turn stores nothing.
    permit = await runtime.pipeline.admit(caller, provider, GenerationRequest(messages=[*before, question]))
    try:
        if conversation_id is None:
            conversation_id = (await store.create_conversation(caller.owner, title_from(message))).id
        user = await store.add_message(conversation_id, "user", message, images=images)
        history = history_messages(await store.history(conversation_id), provider)
        answer = await store.add_message(
            conversation_id,
            "assistant",
            "",
            status="streaming",
            provider=provider.info.name,
            model=model_name or provider.info.model,
        )
        return await _answer(runtime, provider, answer, user.id, history, resumable, caller, route, permit)
    except BaseException:
        if permit is not None:
            await permit.settle(0, 0)
        raise


async def regenerate_turn(
    runtime: Runtime,
    provider: Provider,
    answer_id: str,
    *,
    caller: Caller = ANONYMOUS,
    route: str = "/api/chat",
    model_name: str | None = None,
) -> Turn:
    """Answer the last question again: the stored answer `answer_id` is deleted and a new one
    streams from the same history (the messages before it). Raises AnswerNotFound,
    NotReplaceable (not the last message, or still being written), LimitExceeded (nothing
    changes then) or ProviderError."""
    store = runtime.store
    old = await store.get_message(caller.owner, answer_id)
    if old is None or old.role != "assistant":
        raise AnswerNotFound(answer_id)
    earlier = [m for m in await store.history(old.conversation_id) if m.id != answer_id]
    history = history_messages(earlier, provider)
    permit = await runtime.pipeline.admit(caller, provider, GenerationRequest(messages=history))
    try:
        try:
            answer = await store.replace_answer(
                caller.owner, answer_id, provider=provider.info.name, model=model_name or provider.info.model
            )
        except NotFound:
            raise AnswerNotFound(answer_id) from None
        user_id = next((m.id for m in reversed(earlier) if m.role == "user"), "")
        return await _answer(runtime, provider, answer, user_id, history, True, caller, route, permit)
    except BaseException:
        if permit is not None:
            await permit.settle(0, 0)
        raise


def history_messages(records: Sequence[MessageRecord], provider: Provider) -> list[ChatMessage]:
    """Stored messages as the model gets them back: finished ones, and what the user saw of an
    answer that stopped early. The images go back too (the model still sees them), unless this
    model cannot see: the person chose one that cannot, so it gets the words alone. An
    answer's tool calls do not: nothing ran them, and an upstream refuses a call without its
    result; the answer's text, if it had any, goes back."""
    sees = provider.info.sees_images
    return [
        ChatMessage(_role(m.role), m.content, images=m.images if sees else ())
        for m in records
        if m.status in HISTORY_STATUSES and (m.content or m.role != "assistant")
    ]


async def _answer(
    runtime: Runtime,
    provider: Provider,
    answer: MessageRecord,
    user_message_id: str,
    history: list[ChatMessage],
    resumable: bool,
    caller: Caller,
    route: str,
    permit: Permit | None,
) -> Turn:
    """Generate into the stored `streaming` row `answer`, from `history` fitted to the context."""
    store = runtime.store
    budget = prompt_budget(provider.info.context_tokens, runtime.settings.max_output_tokens)
    model = answer.model or provider.info.model
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
            # What the person read: the answer, or a refusal in its place (reasoning is in the
            # event log only, while it is held).
            content=result.said,
            status=_status(result),
            finish_reason=result.finish_reason,
            input_tokens=result.usage.input_tokens if result.usage else None,
            output_tokens=result.usage.output_tokens if result.usage else None,
            ttft_ms=None if result.ttft_seconds is None else result.ttft_seconds * 1000,
            duration_ms=result.duration_seconds * 1000,
            error=result.failure.message if result.failure else None,
            tool_calls=[ToolCallRecord(c.id, c.name, c.arguments) for c in result.tool_calls],
        )

    conversation_id = answer.conversation_id
    generation = runtime.pipeline.start(
        provider,
        GenerationRequest(messages=fitted),
        Identity(route=route, model=model, key_id=caller.key_id, owner=caller.owner),
        resumable=resumable,
        on_end=record,
        generation_id=answer.id,
        meta={"conversation_id": conversation_id, "user_message_id": user_message_id, "model": model},
        permit=permit,
        label=caller.label,
    )
    return Turn(conversation_id, user_message_id, answer.id, model, generation)


def _role(role: str) -> Role:
    return "assistant" if role == "assistant" else "system" if role == "system" else "user"


def _status(result: GenerationResult) -> str:
    if result.failure is not None:
        return "error"
    if result.finish_reason == "cancelled":
        return "cancelled"
    return "complete"

"""What is kept of a response, and who may read it.

A kept response (`store` not false) is a `ResponseRecord`: its `input_json` is the whole
conversation up to it (earlier turns and this input, without `instructions`, which OpenAI does
not carry over), so `previous_response_id` needs one read, however long the chain.
"""

from __future__ import annotations

import json

from llmrelay.api.openai.responses.shape import ResponseShape
from llmrelay.auth import Caller
from llmrelay.providers.base import ChatMessage
from llmrelay.store import ResponseRecord, Store
from llmrelay.streams import Generation, GenerationResult, OnEnd


def history_json(messages: list[ChatMessage]) -> str:
    return json.dumps([{"role": m.role, "content": m.content} for m in messages], ensure_ascii=False)


def history_of(record: ResponseRecord) -> list[ChatMessage]:
    """The conversation a kept response continues: its input, then its answer."""
    try:
        items = json.loads(record.input_json)
        messages = [ChatMessage(item["role"], item["content"]) for item in items]
    except (ValueError, KeyError, TypeError):
        messages = []  # a damaged row: continue from the answer alone rather than fail
    return [*messages, ChatMessage("assistant", record.output_text)]


async def kept_response(store: Store, caller: Caller, response_id: str) -> ResponseRecord | None:
    """A kept response this caller's tenant made (another's is not there, as a missing one)."""
    return await store.get_response(caller.owner, response_id)


def response_keeper(store: Store, caller: Caller, shape: ResponseShape, history: list[ChatMessage]) -> OnEnd:
    """At the end: keep the response, unless store=false or nobody got it (cancelled)."""

    async def ended(generation: Generation, result: GenerationResult) -> None:
        if not shape.store or result.finish_reason == "cancelled":
            return
        usage = result.usage
        status = shape.finished(result.text, result.finish_reason, usage, result.failure)["status"]
        await store.save_response(
            ResponseRecord(
                id=shape.id,
                previous_response_id=shape.previous_response_id,
                model=shape.model,
                input_json=history_json(history),
                output_text=result.text,
                status=status,
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                api_key_id=caller.key_id,
                owner=caller.owner,
            )
        )

    return ended

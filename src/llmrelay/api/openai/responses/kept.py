"""What is kept of a response, and who may read it.

A kept response (`store` not false) is a `ResponseRecord`: its `input_json` is the whole
conversation up to it (earlier turns and this input, without `instructions`, which OpenAI does
not carry over), so `previous_response_id` needs one read, however long the chain.
"""

from __future__ import annotations

import json
from typing import Any

from llmrelay.api.openai.responses.logprobs import content_logprobs, logprobs_of
from llmrelay.api.openai.responses.shape import Output, ResponseShape
from llmrelay.auth import Caller
from llmrelay.providers.base import ChatMessage, TokenLogprob, ToolCall
from llmrelay.store import ResponseRecord, Store
from llmrelay.streams import Generation, GenerationResult, OnEnd


def _message_json(message: ChatMessage) -> dict[str, Any]:
    item: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        item["images"] = list(message.images)
    if message.tool_calls:
        item["tool_calls"] = [_call_json(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        item["tool_call_id"] = message.tool_call_id
    return item


def _call_json(call: ToolCall) -> dict[str, str]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}


def _call_of(item: dict[str, Any]) -> ToolCall:
    return ToolCall(str(item["id"]), str(item["name"]), str(item["arguments"]))


def history_json(
    messages: list[ChatMessage],
    answer_calls: tuple[ToolCall, ...] = (),
    answer_refusal: str = "",
    answer_logprobs: tuple[TokenLogprob, ...] = (),
) -> str:
    """The conversation up to a response, and the calls its answer made, its refusal and its
    text's logprobs where asked for (the answer's text is the record's `output_text`; its
    reasoning is not kept). Without any, the plain list of messages (the format rows have had
    from the start)."""
    items = [_message_json(m) for m in messages]
    if not answer_calls and not answer_refusal and not answer_logprobs:
        return json.dumps(items, ensure_ascii=False)
    document: dict[str, Any] = {"input": items}
    if answer_calls:
        document["answer_tool_calls"] = [_call_json(call) for call in answer_calls]
    if answer_refusal:
        document["answer_refusal"] = answer_refusal
    if answer_logprobs:
        # In the shape GET shows them (the output_text part's), so it reads them back as they are.
        document["answer_logprobs"] = content_logprobs(answer_logprobs)
    return json.dumps(document, ensure_ascii=False)


def _document(record: ResponseRecord) -> dict[str, Any]:
    """The kept document: its input items, and the answer's calls, refusal and logprobs."""
    data = json.loads(record.input_json)
    if isinstance(data, dict):
        return data
    return {"input": data}


def answer_calls(record: ResponseRecord) -> tuple[ToolCall, ...]:
    try:
        return tuple(_call_of(item) for item in _document(record).get("answer_tool_calls") or ())
    except (ValueError, KeyError, TypeError):
        return ()


def answer_refusal(record: ResponseRecord) -> str:
    try:
        return str(_document(record).get("answer_refusal") or "")
    except (ValueError, KeyError, TypeError):
        return ""


def answer_logprobs(record: ResponseRecord) -> tuple[TokenLogprob, ...]:
    try:
        return logprobs_of(_document(record).get("answer_logprobs") or ())
    except (ValueError, KeyError, TypeError):
        return ()


def history_of(record: ResponseRecord) -> list[ChatMessage]:
    """The conversation a kept response continues: its input, then its answer (with the calls
    it made, whose results the next input brings)."""
    try:
        items = list(_document(record)["input"])
        messages = [
            ChatMessage(
                item["role"],
                item["content"],
                images=tuple(item.get("images") or ()),
                tool_calls=tuple(_call_of(call) for call in item.get("tool_calls") or ()),
                tool_call_id=item.get("tool_call_id"),
            )
            for item in items
        ]
    except (ValueError, KeyError, TypeError):
        messages = []  # a damaged row: continue from the answer alone rather than fail
    # A refusal is what the model said in place of an answer: the next turn sees it so.
    said = record.output_text or answer_refusal(record)
    return [*messages, ChatMessage("assistant", said, tool_calls=answer_calls(record))]


async def kept_response(store: Store, caller: Caller, response_id: str) -> ResponseRecord | None:
    """A kept response this caller's tenant made (another's is not there, as a missing one)."""
    return await store.get_response(caller.owner, response_id)


def response_keeper(store: Store, caller: Caller, shape: ResponseShape, history: list[ChatMessage]) -> OnEnd:
    """At the end: keep the response, unless store=false or nobody got it (cancelled; a
    background response is kept cancelled: its client asks for it later)."""

    async def ended(generation: Generation, result: GenerationResult) -> None:
        if not shape.store or (result.finish_reason == "cancelled" and not shape.background):
            return
        usage = result.usage
        status = shape.finished(Output.of(result), result.finish_reason, usage, result.failure)["status"]
        await store.save_response(
            ResponseRecord(
                id=shape.id,
                previous_response_id=shape.previous_response_id,
                model=shape.model,
                input_json=history_json(
                    history,
                    result.tool_calls,
                    result.refusal,
                    result.logprobs if shape.shows_logprobs else (),
                ),
                output_text=result.text,
                status=status,
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                api_key_id=caller.key_id,
                owner=caller.owner,
            )
        )

    return ended


async def keep_started(
    store: Store, caller: Caller, shape: ResponseShape, history: list[ChatMessage]
) -> None:
    """A background response is kept from its start (`in_progress`), so it can be read and
    cancelled while it runs; its end replaces it."""
    await store.save_response(
        ResponseRecord(
            id=shape.id,
            previous_response_id=shape.previous_response_id,
            model=shape.model,
            input_json=history_json(history),
            output_text="",
            status="in_progress",
            input_tokens=None,
            output_tokens=None,
            api_key_id=caller.key_id,
            owner=caller.owner,
        )
    )

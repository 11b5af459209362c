"""The Responses API's `response` object: what a response says about its request and its end.

The same shape serves every streamed event, the whole answer, and a kept response read back
(`GET /v1/responses/{id}`), so they can never disagree.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from llmrelay.accounting import token_pair
from llmrelay.providers.base import FinishReason, ToolCall, Usage
from llmrelay.store import ResponseRecord, new_id
from llmrelay.streams import Failure

# Finish reason -> (status, incomplete_details.reason)
_STATUS: dict[FinishReason, tuple[str, str | None]] = {
    "stop": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "cancelled": ("cancelled", None),
    "error": ("failed", None),
    "tool_calls": ("completed", None),
}
# What a kept response's status is while its answer runs (background responses).
RUNNING = frozenset({"queued", "in_progress"})


def new_response_id() -> str:
    # The store's ids: time-ordered, and short enough for its id columns.
    return new_id("resp")


def usage_body(usage: Usage | None) -> dict[str, Any]:
    input_tokens, output_tokens = token_pair(usage)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


@dataclass
class ResponseShape:
    """What a response says about its request; the same for every event and the stored copy."""

    id: str
    model: str
    previous_response_id: str | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    store: bool = True
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time()))
    # What the request said about tools and output, echoed as the API echoes them.
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    text_format: dict[str, Any] = field(default_factory=lambda: {"type": "text"})
    background: bool = False

    @property
    def message_id(self) -> str:
        # Derived, so the live stream and the kept copy name the answer's item alike.
        return f"msg_{self.id.removeprefix('resp_')}"

    def message(self, text: str | None, status: str) -> dict[str, Any]:
        content = [] if text is None else [output_text(text)]
        return {
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def function_call(self, index: int, call: ToolCall | None, status: str, **start: Any) -> dict[str, Any]:
        """The output item of the model's call number `index` (ids derived, as the message's)."""
        item: dict[str, Any] = {"id": self.call_item_id(index), "type": "function_call", "status": status}
        if call is not None:
            item |= {"call_id": call.id, "name": call.name, "arguments": call.arguments}
        return item | start

    def call_item_id(self, index: int) -> str:
        return f"fc_{self.id.removeprefix('resp_')}_{index}"

    def body(
        self,
        status: str,
        *,
        text: str | None = None,
        calls: tuple[ToolCall, ...] = (),
        usage: Usage | None = None,
        with_usage: bool = False,
        incomplete: str | None = None,
        error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        item_status = "completed" if status == "completed" else "incomplete"
        output = [] if text is None or (calls and not text) else [self.message(text, item_status)]
        output += [self.function_call(i, call, "completed") for i, call in enumerate(calls)]
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": self.background,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "metadata": self.metadata,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": self.parallel_tool_calls,
            "previous_response_id": self.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "store": self.store,
            "temperature": self.temperature,
            "text": {"format": self.text_format},
            "tool_choice": self.tool_choice,
            "tools": self.tools,
            "top_p": self.top_p,
            "truncation": "disabled",
            "usage": usage_body(usage) if with_usage else None,
            "user": None,
        }

    def finished(
        self,
        text: str,
        reason: FinishReason,
        usage: Usage | None,
        failure: Failure | None,
        calls: tuple[ToolCall, ...] = (),
    ) -> dict[str, Any]:
        """The response as it ended: completed, incomplete (why), or failed (with the error)."""
        status, incomplete = _STATUS[reason]
        error = None
        if failure is not None:
            status = "failed"
            code = "rate_limit_exceeded" if failure.kind == "rate_limited" else "server_error"
            error = {"code": code, "message": failure.message}
        return self.body(
            status, text=text, calls=calls, usage=usage, with_usage=True, incomplete=incomplete, error=error
        )


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def shape_json(shape: ResponseShape) -> str:
    """The shape as text, kept with a running response (its generation's meta), so whoever
    replays its events later renders them exactly as they were first sent."""
    return json.dumps(asdict(shape), ensure_ascii=False, separators=(",", ":"))


def shape_of(text: str) -> ResponseShape:
    return ResponseShape(**json.loads(text))


def body_of(record: ResponseRecord, calls: tuple[ToolCall, ...] = ()) -> dict[str, Any]:
    """A kept response, as GET /v1/responses/{id} shows it."""
    shape = ResponseShape(
        id=record.id,
        model=record.model,
        previous_response_id=record.previous_response_id,
        created_at=int(record.created_at.timestamp()),
    )
    usage = Usage(record.input_tokens, record.output_tokens)
    incomplete = "max_output_tokens" if record.status == "incomplete" else None
    error = {"code": "server_error", "message": "The answer failed."} if record.status == "failed" else None
    body = shape.body(
        record.status,
        text=record.output_text,
        calls=calls,
        usage=usage,
        with_usage=True,
        incomplete=incomplete,
        error=error,
    )
    body["completed_at"] = body["created_at"] if record.status == "completed" else None
    return body

"""Responses API output: the `response` object, its streamed events, and what is kept of it.

A streamed response is the full sequence OpenAI sends, each event with its `sequence_number`:
`response.created`, `response.in_progress`, `response.output_item.added`,
`response.content_part.added`, `response.output_text.delta`…, `response.output_text.done`,
`response.content_part.done`, `response.output_item.done`, and one terminal event:
`response.completed`, `response.incomplete` (cut at max_output_tokens) or `response.failed`.

A kept response (`store` not false) is a `ResponseRecord`: its `input_json` is the whole
conversation up to it (earlier turns and this input, without `instructions`, which OpenAI does
not carry over), so `previous_response_id` needs one read, however long the chain.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmrelay import sse
from llmrelay.api.openai_chat import dumps
from llmrelay.providers.base import ChatMessage, Finished, FinishReason, TextDelta, Usage
from llmrelay.store import ResponseRecord, new_id
from llmrelay.streams import Failure, LogEvent
from llmrelay.usage import token_counts

# Finish reason -> (status, incomplete_details.reason)
_STATUS: dict[FinishReason, tuple[str, str | None]] = {
    "stop": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "cancelled": ("cancelled", None),
    "error": ("failed", None),
}


def new_response_id() -> str:
    # The store's ids: time-ordered, and short enough for its id columns.
    return new_id("resp")


def usage_body(input_tokens: int, output_tokens: int) -> dict[str, Any]:
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

    def body(
        self,
        status: str,
        *,
        text: str | None = None,
        tokens: tuple[int, int] | None = None,
        incomplete: str | None = None,
        error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        item_status = "completed" if status == "completed" else "incomplete"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": self.instructions,
            "max_output_tokens": self.max_output_tokens,
            "metadata": self.metadata,
            "model": self.model,
            "output": [] if text is None else [self.message(text, item_status)],
            "parallel_tool_calls": False,
            "previous_response_id": self.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "store": self.store,
            "temperature": self.temperature,
            "text": {"format": {"type": "text"}},
            "tool_choice": "none",
            "tools": [],
            "top_p": self.top_p,
            "truncation": "disabled",
            "usage": None if tokens is None else usage_body(*tokens),
            "user": None,
        }

    def finished(
        self, text: str, reason: FinishReason, tokens: tuple[int, int], failure: Failure | None
    ) -> dict[str, Any]:
        """The response as it ended: completed, incomplete (why), or failed (with the error)."""
        status, incomplete = _STATUS[reason]
        error = None
        if failure is not None:
            status = "failed"
            code = "rate_limit_exceeded" if failure.kind == "rate_limited" else "server_error"
            error = {"code": code, "message": failure.message}
        return self.body(status, text=text, tokens=tokens, incomplete=incomplete, error=error)


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


@dataclass
class EventRenderer:
    """Turns a generation's log into the Responses API's event stream (an `sse.Renderer`)."""

    shape: ResponseShape
    prompt_tokens: Callable[[], int]
    count_tokens: Callable[[str], int]
    _seq: int = 0
    _text: list[str] = field(default_factory=list)
    _usage: Usage | None = None
    _failure: Failure | None = None

    def event(self, kind: str, **data: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return sse.encode(dumps(body), event=kind)

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.shape.message_id, "output_index": 0, "content_index": 0}

    def first(self) -> bytes:
        shape = self.shape
        return b"".join(
            [
                self.event("response.created", response=shape.body("in_progress")),
                self.event("response.in_progress", response=shape.body("in_progress")),
                self.event(
                    "response.output_item.added", output_index=0, item=shape.message(None, "in_progress")
                ),
                self.event("response.content_part.added", **self._where(), part=output_text("")),
            ]
        )

    def tokens(self) -> tuple[int, int]:
        return token_counts(self._usage, self.prompt_tokens, self.count_tokens, "".join(self._text))

    def __call__(self, generation_id: str, seq: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            return self.event("response.output_text.delta", **self._where(), delta=event.text, logprobs=[])
        if isinstance(event, Usage):
            self._usage = event
            return None
        if isinstance(event, Failure):
            self._failure = event
            return None  # response.failed follows with Finished
        if isinstance(event, Finished):
            return self._end(event.reason)
        return None

    def _end(self, reason: FinishReason) -> bytes:
        text = "".join(self._text)
        final = self.shape.finished(text, reason, self.tokens(), self._failure)
        if final["status"] == "failed":
            return self.event("response.failed", response=final)
        item = final["output"][0]
        terminal = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return b"".join(
            [
                self.event("response.output_text.done", **self._where(), text=text, logprobs=[]),
                self.event("response.content_part.done", **self._where(), part=output_text(text)),
                self.event("response.output_item.done", output_index=0, item=item),
                self.event(terminal, response=final),
            ]
        )


# -- what is kept ------------------------------------------------------------------------------


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


def body_of(record: ResponseRecord) -> dict[str, Any]:
    """A kept response, as GET /v1/responses/{id} shows it."""
    shape = ResponseShape(
        id=record.id,
        model=record.model,
        previous_response_id=record.previous_response_id,
        created_at=int(record.created_at.timestamp()),
    )
    tokens = (record.input_tokens or 0, record.output_tokens or 0)
    incomplete = "max_output_tokens" if record.status == "incomplete" else None
    error = {"code": "server_error", "message": "The answer failed."} if record.status == "failed" else None
    body = shape.body(
        record.status, text=record.output_text, tokens=tokens, incomplete=incomplete, error=error
    )
    body["completed_at"] = body["created_at"] if record.status == "completed" else None
    return body

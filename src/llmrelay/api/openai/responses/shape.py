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
from llmrelay.api.openai.responses.logprobs import content_logprobs
from llmrelay.providers.base import FinishReason, TokenLogprob, ToolCall, Usage
from llmrelay.store import ResponseRecord, new_id
from llmrelay.streams import Failure, GenerationResult

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


@dataclass(frozen=True)
class Output:
    """What a response's output items say: the answer's text, its refusal, the calls it made
    and the reasoning it showed (`reasoning_summary`: a summary of it, OpenAI's kind).
    `parts`: the message's content parts in the order they opened (a stream's order).
    `logprobs`: the text's tokens (shown where the request asked for them)."""

    text: str | None = None
    calls: tuple[ToolCall, ...] = ()
    refusal: str = ""
    reasoning: str = ""
    reasoning_summary: bool = False
    parts: tuple[str, ...] = ("text", "refusal")
    logprobs: tuple[TokenLogprob, ...] = ()

    @classmethod
    def of(cls, result: GenerationResult) -> Output:
        return cls(
            result.text,
            result.tool_calls,
            result.refusal,
            result.reasoning,
            result.reasoning_summary,
            logprobs=result.logprobs,
        )


def new_response_id() -> str:
    # The store's ids: time-ordered, and short enough for its id columns.
    return new_id("resp")


def usage_body(usage: Usage | None) -> dict[str, Any]:
    input_tokens, output_tokens = token_pair(usage)
    return {
        "input_tokens": input_tokens,
        # OpenAI's input_tokens count the cached ones too, as llmrelay's do.
        "input_tokens_details": {
            "cached_tokens": (usage.cache_read_tokens if usage else None) or 0,
            "cache_write_tokens": (usage.cache_write_tokens if usage else None) or 0,
        },
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
    # `include` had "message.output_text.logprobs": the text parts carry its tokens' logprobs.
    shows_logprobs: bool = False
    top_logprobs: int | None = None

    @property
    def message_id(self) -> str:
        # Derived, so the live stream and the kept copy name the answer's item alike.
        return f"msg_{self.id.removeprefix('resp_')}"

    @property
    def reasoning_id(self) -> str:
        return f"rs_{self.id.removeprefix('resp_')}"

    def message(
        self,
        text: str | None,
        status: str,
        refusal: str = "",
        parts: tuple[str, ...] = ("text", "refusal"),
        logprobs: tuple[TokenLogprob, ...] = (),
    ) -> dict[str, Any]:
        """The answer's message item: its text (none while it opens) with its tokens' logprobs
        when asked for, and a refusal part when the model refused (then no empty text part
        beside it)."""
        content = []
        for part in parts:
            if part == "text" and text is not None and (text or not refusal):
                content.append(output_text(text, logprobs if self.shows_logprobs else ()))
            elif part == "refusal" and refusal:
                content.append(refusal_part(refusal))
        return {
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def reasoning(self, text: str | None, summary: bool, status: str) -> dict[str, Any]:
        """The reasoning item: its summary (OpenAI's models) or its text (open-weight models)."""
        item: dict[str, Any] = {"id": self.reasoning_id, "type": "reasoning", "summary": [], "status": status}
        if text is not None and summary:
            item["summary"] = [summary_text(text)]
        elif text is not None:
            item["content"] = [reasoning_text(text)]
        return item

    def function_call(self, index: int, call: ToolCall | None, status: str, **start: Any) -> dict[str, Any]:
        """The output item of the model's call number `index` (ids derived, as the message's)."""
        item: dict[str, Any] = {"id": self.call_item_id(index), "type": "function_call", "status": status}
        if call is not None:
            item |= {"call_id": call.id, "name": call.name, "arguments": call.arguments}
        return item | start

    def call_item_id(self, index: int) -> str:
        return f"fc_{self.id.removeprefix('resp_')}_{index}"

    def items(self, output: Output, status: str) -> list[dict[str, Any]]:
        """The output items of a response in `status`: reasoning, message, calls."""
        item_status = "completed" if status == "completed" else "incomplete"
        items = []
        if output.reasoning:
            items.append(self.reasoning(output.reasoning, output.reasoning_summary, item_status))
        text = output.text
        if text is not None and (text or output.refusal or not output.calls):
            items.append(self.message(text, item_status, output.refusal, output.parts, output.logprobs))
        items += [self.function_call(i, call, "completed") for i, call in enumerate(output.calls)]
        return items

    def body(
        self,
        status: str,
        *,
        output: Output | None = None,
        usage: Usage | None = None,
        with_usage: bool = False,
        incomplete: str | None = None,
        error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        items = [] if output is None else self.items(output, status)
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
            "output": items,
            "parallel_tool_calls": self.parallel_tool_calls,
            "previous_response_id": self.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "store": self.store,
            "temperature": self.temperature,
            "text": {"format": self.text_format},
            "tool_choice": self.tool_choice,
            "tools": self.tools,
            "top_logprobs": self.top_logprobs,
            "top_p": self.top_p,
            "truncation": "disabled",
            "usage": usage_body(usage) if with_usage else None,
            "user": None,
        }

    def finished(
        self, output: Output, reason: FinishReason, usage: Usage | None, failure: Failure | None
    ) -> dict[str, Any]:
        """The response as it ended: completed, incomplete (why), or failed (with the error)."""
        status, incomplete = _STATUS[reason]
        error = None
        if failure is not None:
            status = "failed"
            code = "rate_limit_exceeded" if failure.kind == "rate_limited" else "server_error"
            error = {"code": code, "message": failure.message}
        return self.body(
            status, output=output, usage=usage, with_usage=True, incomplete=incomplete, error=error
        )


def output_text(text: str, logprobs: tuple[TokenLogprob, ...] = ()) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": content_logprobs(logprobs)}


def refusal_part(refusal: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": refusal}


def summary_text(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def reasoning_text(text: str) -> dict[str, Any]:
    return {"type": "reasoning_text", "text": text}


def shape_json(shape: ResponseShape) -> str:
    """The shape as text, kept with a running response (its generation's meta), so whoever
    replays its events later renders them exactly as they were first sent."""
    return json.dumps(asdict(shape), ensure_ascii=False, separators=(",", ":"))


def shape_of(text: str) -> ResponseShape:
    return ResponseShape(**json.loads(text))


def body_of(
    record: ResponseRecord,
    calls: tuple[ToolCall, ...] = (),
    refusal: str = "",
    logprobs: tuple[TokenLogprob, ...] = (),
) -> dict[str, Any]:
    """A kept response, as GET /v1/responses/{id} shows it (its reasoning is not kept: that
    was in its events only; its text's logprobs are, where the request asked for them)."""
    shape = ResponseShape(
        id=record.id,
        model=record.model,
        previous_response_id=record.previous_response_id,
        created_at=int(record.created_at.timestamp()),
        shows_logprobs=bool(logprobs),
    )
    usage = Usage(record.input_tokens, record.output_tokens)
    incomplete = "max_output_tokens" if record.status == "incomplete" else None
    error = {"code": "server_error", "message": "The answer failed."} if record.status == "failed" else None
    body = shape.body(
        record.status,
        output=Output(record.output_text, calls, refusal, logprobs=logprobs),
        usage=usage,
        with_usage=True,
        incomplete=incomplete,
        error=error,
    )
    body["completed_at"] = body["created_at"] if record.status == "completed" else None
    return body

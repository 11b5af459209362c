"""Responses API output: the streamed events of a response, and the whole of it.

A streamed response is the full sequence OpenAI sends, each event with its `sequence_number`:
`response.created`, `response.in_progress`, `response.output_item.added`,
`response.content_part.added`, `response.output_text.delta`…, `response.output_text.done`,
`response.content_part.done`, `response.output_item.done` (and the like for reasoning items,
refusal parts and function calls), and one terminal event:
`response.completed`, `response.incomplete` (cut at max_output_tokens) or `response.failed`.

Where the request asked for log probabilities (`include`), each text delta carries its tokens'
and `response.output_text.done` and the final `output_text` part the whole text's: all read
from the log's text events, so a replay or a resumed stream shows exactly the same ones.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from llmrelay.api.openai.errors import error_response
from llmrelay.api.openai.responses.logprobs import event_logprobs
from llmrelay.api.openai.responses.shape import (
    Output,
    ResponseShape,
    output_text,
    reasoning_text,
    refusal_part,
    summary_text,
)
from llmrelay.providers.base import (
    Finished,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from llmrelay.streams import Failure, GenerationResult, LogEvent
from llmrelay.toolcalls import ToolCallAssembler
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer


class EventRenderer(Renderer):
    """A generation as the Responses API shows it: its event stream, or the whole `response`;
    a failure before start in OpenAI's error body.

    Output items open as they appear, numbered in that order: the reasoning item with the first
    reasoning (its summary streams as `response.reasoning_summary_text.delta`, reasoning itself
    as `response.reasoning_text.delta`), the message with the first text or refusal (content
    parts in the order they open: `output_text`, `refusal` with `response.refusal.delta`), each
    function call with its first piece (its arguments then stream as
    `response.function_call_arguments.delta`); all are closed at the end, before the terminal
    event. An answer with no output at all still has its (empty) message."""

    def __init__(self, shape: ResponseShape, *, starting_after: int = -1) -> None:
        self.shape = shape
        # A reconnecting client's cursor: events up to this sequence number are rendered (so
        # the numbering is exactly the first one's) but not sent again.
        self.starting_after = starting_after
        self._seq = 0
        self._text: list[str] = []
        self._logprobs: list[TokenLogprob] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        # Whether the reasoning item shows a summary (or the reasoning itself), once opened.
        self._summary = False
        self._usage: Usage | None = None
        self._failure: Failure | None = None
        # Output items in the order they opened: "reasoning", "message", or a call's index.
        self._items: list[str | int] = []
        # The message's content parts in the order they opened: "text", "refusal".
        self._parts: list[str] = []
        self._calls = ToolCallAssembler()

    def event(self, kind: str, **data: Any) -> bytes:
        seq = self._seq
        self._seq += 1
        if seq <= self.starting_after:
            return b""
        body = {"type": kind, "sequence_number": seq, **data}
        return sse.encode(sse.dumps(body), event=kind)

    def _where(self, part: str = "text") -> dict[str, Any]:
        return {
            "item_id": self.shape.message_id,
            "output_index": self._items.index("message"),
            "content_index": self._parts.index(part),
        }

    def _reasoning_where(self) -> dict[str, Any]:
        where: dict[str, Any] = {
            "item_id": self.shape.reasoning_id,
            "output_index": self._items.index("reasoning"),
        }
        return where | ({"summary_index": 0} if self._summary else {"content_index": 0})

    def failure(self, failure: Failure) -> Response:
        return error_response(failure)

    def whole(self, result: GenerationResult) -> Response:
        body = self.shape.finished(Output.of(result), result.finish_reason, result.usage, None)
        return JSONResponse(body)

    def opening(self) -> bytes:
        shape = self.shape
        return self.event("response.created", response=shape.body("in_progress")) + self.event(
            "response.in_progress", response=shape.body("in_progress")
        )

    def _open_message(self) -> bytes:
        self._items.append("message")
        return self.event(
            "response.output_item.added",
            output_index=len(self._items) - 1,
            item=self.shape.message(None, "in_progress"),
        )

    def _open_part(self, part: str) -> bytes:
        """The message's part `part` ("text" or "refusal"), opened (and the message) if not yet."""
        if part in self._parts:
            return b""
        out = b"" if "message" in self._items else self._open_message()
        self._parts.append(part)
        empty = output_text("") if part == "text" else refusal_part("")
        return out + self.event("response.content_part.added", **self._where(part), part=empty)

    def render(self, seq: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            opened = self._open_part("text")
            self._text.append(event.text)
            shown = event.logprobs if self.shape.shows_logprobs else ()
            self._logprobs.extend(shown)
            return opened + self.event(
                "response.output_text.delta",
                **self._where(),
                delta=event.text,
                logprobs=event_logprobs(shown),
            )
        if isinstance(event, ToolCallDelta):
            return self._call_piece(event)
        if isinstance(event, ReasoningDelta):
            return self._reasoning_piece(event)
        if isinstance(event, RefusalDelta):
            opened = self._open_part("refusal")
            self._refusal.append(event.text)
            return opened + self.event("response.refusal.delta", **self._where("refusal"), delta=event.text)
        if isinstance(event, Usage):
            self._usage = event
            return None
        if isinstance(event, Failure):
            self._failure = event
            return None  # response.failed follows with Finished
        if isinstance(event, Finished):
            return self._end(event.reason)
        return None

    def _reasoning_piece(self, delta: ReasoningDelta) -> bytes:
        out = b""
        if "reasoning" not in self._items:
            # The item's kind is its first piece's: a summary, or the reasoning itself.
            self._summary = delta.summary
            self._items.append("reasoning")
            item = self.shape.reasoning(None, self._summary, "in_progress")
            out = self.event("response.output_item.added", output_index=len(self._items) - 1, item=item)
            if self._summary:
                out += self.event(
                    "response.reasoning_summary_part.added", **self._reasoning_where(), part=summary_text("")
                )
            else:
                out += self.event(
                    "response.content_part.added", **self._reasoning_where(), part=reasoning_text("")
                )
        self._reasoning.append(delta.text)
        kind = "response.reasoning_summary_text.delta" if self._summary else "response.reasoning_text.delta"
        return out + self.event(kind, **self._reasoning_where(), delta=delta.text)

    def _call_piece(self, delta: ToolCallDelta) -> bytes:
        out = b""
        if delta.index not in self._items:
            self._items.append(delta.index)
            opening = ToolCall(delta.id or "", delta.name or "", "")
            item = self.shape.function_call(delta.index, opening, "in_progress")
            out = self.event("response.output_item.added", output_index=len(self._items) - 1, item=item)
        self._calls.add(delta)
        if delta.arguments:
            out += self.event(
                "response.function_call_arguments.delta",
                item_id=self.shape.call_item_id(delta.index),
                output_index=self._items.index(delta.index),
                delta=delta.arguments,
            )
        return out

    def _end(self, reason: FinishReason) -> bytes:
        text = "".join(self._text)
        refusal = "".join(self._refusal)
        reasoning = "".join(self._reasoning)
        calls = self._calls.calls()
        logprobs = tuple(self._logprobs)
        shown = Output(text, calls, refusal, reasoning, self._summary, tuple(self._parts), logprobs)
        final = self.shape.finished(shown, reason, self._usage, self._failure)
        if final["status"] == "failed":
            return self.event("response.failed", response=final)
        # An answer that neither said anything nor called a tool still has its (empty) message.
        out = [] if "message" in self._items or calls else [self._open_part("text")]
        done = "completed" if final["status"] == "completed" else "incomplete"
        output: list[dict[str, Any]] = []
        by_index = dict(zip(sorted(i for i in self._items if isinstance(i, int)), calls, strict=True))
        for position, opened in enumerate(self._items):
            if opened == "message":
                item = self.shape.message(text, done, refusal, tuple(self._parts), logprobs)
                out += self._close_parts(text, refusal, logprobs)
            elif opened == "reasoning":
                item = self.shape.reasoning(reasoning, self._summary, done)
                out += self._close_reasoning(reasoning)
            elif isinstance(opened, int):
                call = by_index[opened]
                item = self.shape.function_call(opened, call, "completed")
                out.append(
                    self.event(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=position,
                        arguments=call.arguments,
                    )
                )
            else:
                continue
            out.append(self.event("response.output_item.done", output_index=position, item=item))
            output.append(item)
        final["output"] = output
        terminal = "response.completed" if final["status"] == "completed" else "response.incomplete"
        out.append(self.event(terminal, response=final))
        return b"".join(out)

    def _close_parts(self, text: str, refusal: str, logprobs: tuple[TokenLogprob, ...]) -> list[bytes]:
        out = []
        for part in self._parts:
            where = self._where(part)
            if part == "text":
                out += [
                    self.event(
                        "response.output_text.done", **where, text=text, logprobs=event_logprobs(logprobs)
                    ),
                    self.event("response.content_part.done", **where, part=output_text(text, logprobs)),
                ]
            else:
                out += [
                    self.event("response.refusal.done", **where, refusal=refusal),
                    self.event("response.content_part.done", **where, part=refusal_part(refusal)),
                ]
        return out

    def _close_reasoning(self, reasoning: str) -> list[bytes]:
        where = self._reasoning_where()
        if self._summary:
            return [
                self.event("response.reasoning_summary_text.done", **where, text=reasoning),
                self.event("response.reasoning_summary_part.done", **where, part=summary_text(reasoning)),
            ]
        return [
            self.event("response.reasoning_text.done", **where, text=reasoning),
            self.event("response.content_part.done", **where, part=reasoning_text(reasoning)),
        ]

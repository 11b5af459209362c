"""The Messages API's output: the whole `message`, and its event stream, exactly as Anthropic
sends them (field names as in the `anthropic` SDK's types).

The stream is

    event: message_start        the message with empty content, stop_reason null, usage so far
    event: content_block_start  index 0, an empty text block
    event: ping
    event: content_block_delta  one per text delta (`text_delta`)
    event: content_block_stop
    event: message_delta        stop_reason, stop_sequence, usage (cumulative: the totals)
                                (stop_reason "stop_sequence" and the sequence when the answer
                                ended on one of the request's and the provider said which)
    event: message_stop

with `event: ping` every 15 s while it is idle (`ping_event`), and `event: error` (Anthropic's
error body) in place of the end when the generation fails after the stream started.
`message_start` can only estimate the input tokens (the tokens spent come into the log at the
end); `message_delta` then carries the generation's counts, which the SDKs take as the final
ones: the prompt's uncached `input_tokens` and, apart, `cache_creation_input_tokens` and
`cache_read_input_tokens` (an Anthropic upstream's; 0 elsewhere). A failure before the stream started is Anthropic's error response (`failure`).

Content blocks open as their content comes, numbered in that order, one open at a time (the
first one followed by the `ping`, as Anthropic sends it):
- reasoning is a `thinking` block: `content_block_start` with `{type: thinking, thinking: "",
  signature: ""}`, its text as `thinking_delta`s, then a `signature_delta` (the signature the
  upstream gave the block; "" for reasoning nobody signed, an OpenAI-style server's
  `reasoning_content`) just before its `content_block_stop`; a redacted block is a
  `redacted_thinking` block, its `data` whole at its start;
- text is a `text` block (`text_delta`s);
- a tool call is a `tool_use` block: `content_block_start` with its id and name and `input: {}`,
  its arguments as `input_json_delta`s; the message stops with `stop_reason: "tool_use"`.
So an answer with thinking has its thinking block at index 0 and its text block after it; one
that only calls a tool starts its tool_use block at 0, as Anthropic's do. An answer with no
content at all still has its (empty) text block. The whole message has the thinking blocks
(with their signatures), then the text, then each call's `input` parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

from fastapi.responses import JSONResponse
from sse_starlette import ServerSentEvent
from starlette.responses import Response

from llmrelay.api.anthropic.errors import as_response, failure_body, from_failure
from llmrelay.providers.base import (
    Finished,
    FinishReason,
    ReasoningBlock,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RefusalDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from llmrelay.streams import Failure, GenerationResult, LogEvent
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer

# llmrelay's finish reasons as Anthropic's stop reasons (a cancelled answer has no reader).
STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "tool_use",
    "cancelled": "end_turn",
    "error": "end_turn",
}


def usage_body(usage: Usage | None) -> dict[str, Any]:
    """Anthropic's usage: its `input_tokens` are the prompt's tokens outside the cache, where
    llmrelay's count all of them (`Usage`); the cache counts are 0 where nothing was cached (a
    provider with no prompt cache)."""
    written = (usage.cache_write_tokens if usage else None) or 0
    read = (usage.cache_read_tokens if usage else None) or 0
    every_input = (usage.input_tokens if usage else None) or 0
    return {
        "input_tokens": max(every_input - written - read, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": (usage.output_tokens if usage else None) or 0,
    }


def stop_of(reason: FinishReason, stop_sequence: str | None) -> dict[str, str | None]:
    """`stop_reason` and `stop_sequence`: the sequence matched where the provider said which."""
    if reason == "stop" and stop_sequence is not None:
        return {"stop_reason": "stop_sequence", "stop_sequence": stop_sequence}
    return {"stop_reason": STOP_REASONS[reason], "stop_sequence": None}


def tool_use_block(call: ToolCall) -> dict[str, Any]:
    try:
        arguments = json.loads(call.arguments) if call.arguments else {}
    except ValueError:
        arguments = None
    if not isinstance(arguments, dict):
        # Anthropic's `input` is an object; what the model wrote is kept whole, not dropped.
        arguments = {"arguments": call.arguments}
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}


def thinking_block(block: ReasoningBlock) -> dict[str, Any]:
    if block.redacted is not None:
        return {"type": "redacted_thinking", "data": block.redacted}
    return {"type": "thinking", "thinking": block.text, "signature": block.signature}


def message_body(
    message_id: str,
    model: str,
    text: str | None,
    stop: dict[str, str | None] | None,
    usage: Usage | None,
    tool_calls: tuple[ToolCall, ...] = (),
    reasoning: Sequence[ReasoningBlock] = (),
) -> dict[str, Any]:
    """A `message` object: whole (`text` and `stop` given), or as `message_start` carries it
    (None: no stop yet)."""
    content = [thinking_block(block) for block in reasoning]
    content += [{"type": "text", "text": text}] if text else []
    content += [tool_use_block(call) for call in tool_calls]
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        **(stop or {"stop_reason": None, "stop_sequence": None}),
        "usage": usage_body(usage),
    }


def event(kind: str, data: dict[str, Any]) -> bytes:
    return sse.encode(sse.dumps({"type": kind, **data}), event=kind)


PING = event("ping", {})


def _ping() -> ServerSentEvent:
    return ServerSentEvent(data=sse.dumps({"type": "ping"}), event="ping", sep="\n")


BlockKind = Literal["text", "thinking", "redacted_thinking", "tool_use"]
EMPTY_BLOCKS: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
}


class MessagesRenderer(Renderer):
    """A generation as the Messages API shows it: its event stream, or the whole `message`;
    a failure before start in Anthropic's error body."""

    def __init__(self, message_id: str, model: str, *, prompt_tokens: Callable[[], int]) -> None:
        self.message_id = message_id
        self.model = model
        # For message_start: the prompt's tokens as llmrelay counts them (before any usage).
        self.prompt_tokens = prompt_tokens
        self._usage: Usage | None = None
        # The content block started and not yet stopped (its kind and index), and the next
        # block's index (so also how many have started).
        self._open: tuple[BlockKind, int] | None = None
        self._next = 0
        # Each tool call's block index, by the call's index.
        self._calls: dict[int, int] = {}

    def opening(self) -> bytes:
        # Before the upstream answered: llmrelay's count of the prompt, nothing known cached.
        start = message_body(self.message_id, self.model, None, None, Usage(self.prompt_tokens(), 0))
        return event("message_start", {"message": start})

    def ping_event(self) -> ServerSentEvent:
        return _ping()

    def failure(self, failure: Failure) -> Response:
        return as_response(from_failure(failure))

    def whole(self, result: GenerationResult) -> Response:
        stop = stop_of(result.finish_reason, result.stop_sequence)
        body = message_body(
            self.message_id,
            self.model,
            result.said,
            stop,
            result.usage,
            result.tool_calls,
            result.reasoning_blocks,
        )
        return JSONResponse(body)

    def render(self, seq: int, item: LogEvent) -> bytes | None:
        if isinstance(item, TextDelta | RefusalDelta):
            # The Messages API has no refusal block: a refusal is the text a person reads.
            return self._delta("text", {"type": "text_delta", "text": item.text})
        if isinstance(item, ReasoningDelta):
            return self._delta("thinking", {"type": "thinking_delta", "thinking": item.text})
        if isinstance(item, ReasoningSignature):
            return self._delta("thinking", {"type": "signature_delta", "signature": item.signature}) + (
                self._stop_open(signed=True)
            )
        if isinstance(item, RedactedReasoning):
            block = {"type": "redacted_thinking", "data": item.data}
            return self._start("redacted_thinking", block) + self._stop_open()
        if isinstance(item, ToolCallDelta):
            return self._tool_call(item)
        if isinstance(item, Usage):
            self._usage = item
            return None
        if isinstance(item, Failure):
            # Anthropic ends a failed stream with the error event alone.
            return sse.encode(sse.dumps(failure_body(item)), event="error")
        if isinstance(item, Finished):
            if item.reason == "error":
                return None  # the error event said it all
            ending = stop_of(item.reason, item.stop_sequence)
            # An answer with no content at all still has its text block, empty.
            empty = self._start("text", EMPTY_BLOCKS["text"]) if self._next == 0 else b""
            return b"".join(
                [
                    empty,
                    self._stop_open(),
                    event("message_delta", {"delta": ending, "usage": usage_body(self._usage)}),
                    event("message_stop", {}),
                ]
            )
        return None

    def _start(self, kind: BlockKind, block: dict[str, Any]) -> bytes:
        """A new block (the one before it is complete: Anthropic's blocks follow each other)."""
        out = self._stop_open()
        index = self._next
        self._next += 1
        self._open = (kind, index)
        out += event("content_block_start", {"index": index, "content_block": block})
        return out + PING if index == 0 else out

    def _delta(self, kind: BlockKind, delta: dict[str, Any]) -> bytes:
        """A delta of the open block of this kind, opening one first where none is open."""
        out = (
            b"" if self._open is not None and self._open[0] == kind else self._start(kind, EMPTY_BLOCKS[kind])
        )
        assert self._open is not None
        return out + event("content_block_delta", {"index": self._open[1], "delta": delta})

    def _stop_open(self, *, signed: bool = False) -> bytes:
        if self._open is None:
            return b""
        kind, index = self._open
        self._open = None
        out = b""
        if kind == "thinking" and not signed:
            # Reasoning nobody signed still ends as Anthropic's thinking blocks do.
            delta = {"type": "signature_delta", "signature": ""}
            out = event("content_block_delta", {"index": index, "delta": delta})
        return out + event("content_block_stop", {"index": index})

    def _tool_call(self, piece: ToolCallDelta) -> bytes:
        out = b""
        if piece.id is not None or piece.name is not None or piece.index not in self._calls:
            block = {"type": "tool_use", "id": piece.id or "", "name": piece.name or "", "input": {}}
            out = self._start("tool_use", block)
            self._calls[piece.index] = self._next - 1
        if piece.arguments:
            delta = {"type": "input_json_delta", "partial_json": piece.arguments}
            out += event("content_block_delta", {"index": self._calls[piece.index], "delta": delta})
        return out

"""One streamed message's raw events (JSON objects, as Anthropic sends them) read as
llmrelay's provider events.

What matters of the stream:
- `content_block_delta` with a `text_delta`: text, whichever block it is in;
- `content_block_start` of a `thinking` block, its `thinking_delta`s (reasoning) and the
  `signature_delta` that comes just before its `content_block_stop` (the block's end, with the
  signature a client needs to give it back); a `redacted_thinking` block whole at its start
  (its encrypted `data`, nothing to read);
- `content_block_start` of a `tool_use` block: a call opens (its id and name) — call i is the
  message's i-th tool_use block, whatever its block index (text blocks come between);
  `input_json_delta`s of that block are its arguments' JSON, in fragments of any size;
  `content_block_stop` closes it (a call that got no fragment at all took no input: `{}`);
- `message_start` / `message_delta`: usage (cumulative: the last count holds) and the
  `stop_reason`, with `stop_sequence` when the answer ended on one of the request's. Anthropic's
  `input_tokens` are the prompt's tokens NOT in its cache; `cache_creation_input_tokens` and
  `cache_read_input_tokens` the others: llmrelay's `Usage.input_tokens` is their sum (every
  token of the prompt, as OpenAI counts it and as keys' limits count it), with the two cache
  counts beside it;
- `message_stop`: the end; `error`: a failure mid-stream (`overloaded_error`…).
Other blocks and deltas (citations) carry nothing llmrelay forwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmrelay.providers.anthropic.upstream_errors import reported_failure
from llmrelay.providers.base import (
    Finished,
    FinishReason,
    ProviderEvent,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    TextDelta,
    ToolCallDelta,
    Usage,
)

# Anthropic's stop reasons in llmrelay's words. `pause_turn` ends a turn normally; the context
# window running out is a length stop.
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


@dataclass
class _OpenCall:
    position: int  # the call's index among the message's calls
    has_input: bool = False


class MessageEvents:
    """The reader of one stream (a new one per generation)."""

    def __init__(self, *, api_key: str) -> None:
        self._api_key = api_key
        self.ended = False
        self._input_tokens: int | None = None
        self._output_tokens: int | None = None
        self._cache_write: int | None = None
        self._cache_read: int | None = None
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None
        self._calls: dict[int, _OpenCall] = {}  # by block index
        # Thinking blocks not yet ended, by block index: the signature their start carried
        # (a whole block's; a streamed one's comes as a signature_delta, and ends it then).
        self._thinking: dict[int, str] = {}

    def read(self, event: dict[str, Any]) -> Iterator[ProviderEvent]:
        """The events one raw event makes. Raises `ProviderError` for an `error` event; a
        malformed event raises ValueError, TypeError or AttributeError."""
        kind = event.get("type")
        if kind == "content_block_delta":
            yield from self._delta(event["index"], event.get("delta") or {})
        elif kind == "content_block_start":
            yield from self._start(event["index"], event.get("content_block") or {})
        elif kind == "content_block_stop":
            call = self._calls.get(event["index"])
            if call is not None and not call.has_input:
                yield ToolCallDelta(call.position, arguments="{}")
            if event["index"] in self._thinking:
                # A thinking block that got no signature_delta still ends here, with what it had.
                yield ReasoningSignature(self._thinking.pop(event["index"]))
        elif kind == "message_start":
            usage = (event.get("message") or {}).get("usage") or {}
            self._input_tokens = usage.get("input_tokens", self._input_tokens)
            self._read_cache_usage(usage)
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            self._stop_reason = delta.get("stop_reason") or self._stop_reason
            self._stop_sequence = delta.get("stop_sequence") or self._stop_sequence
            usage = event.get("usage") or {}
            self._input_tokens = usage.get("input_tokens") or self._input_tokens
            self._output_tokens = usage.get("output_tokens", self._output_tokens)
            self._read_cache_usage(usage)
        elif kind == "message_stop":
            self.ended = True
        elif kind == "error":
            error = event.get("error") or {}
            raise reported_failure(error.get("type"), error.get("message"), api_key=self._api_key)

    def _read_cache_usage(self, usage: dict[str, Any]) -> None:
        # Counts are cumulative; a null (or absent) one says nothing new.
        if usage.get("cache_creation_input_tokens") is not None:
            self._cache_write = int(usage["cache_creation_input_tokens"])
        if usage.get("cache_read_input_tokens") is not None:
            self._cache_read = int(usage["cache_read_input_tokens"])

    def _start(self, index: int, block: dict[str, Any]) -> Iterator[ProviderEvent]:
        if block.get("type") == "tool_use":
            call = self._calls[index] = _OpenCall(len(self._calls))
            yield ToolCallDelta(call.position, id=block["id"], name=block["name"])
            given = block.get("input")
            if given:  # streamed input starts as {}; anything else is the input whole
                call.has_input = True
                yield ToolCallDelta(call.position, arguments=json.dumps(given, ensure_ascii=False))
        elif block.get("type") == "text" and block.get("text"):
            yield TextDelta(block["text"])
        elif block.get("type") == "thinking":
            self._thinking[index] = block.get("signature") or ""
            if block.get("thinking"):
                yield ReasoningDelta(block["thinking"])
        elif block.get("type") == "redacted_thinking":
            yield RedactedReasoning(block["data"])

    def _delta(self, index: int, delta: dict[str, Any]) -> Iterator[ProviderEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            if delta.get("text"):
                yield TextDelta(delta["text"])
        elif kind == "thinking_delta":
            if delta.get("thinking"):
                yield ReasoningDelta(delta["thinking"])
        elif kind == "signature_delta":
            if index in self._thinking:
                del self._thinking[index]
                yield ReasoningSignature(delta["signature"])
        elif kind == "input_json_delta":
            call = self._calls.get(index)
            fragment = delta.get("partial_json")
            if call is not None and fragment:
                call.has_input = True
                yield ToolCallDelta(call.position, arguments=fragment)

    def closing(self) -> Iterator[ProviderEvent]:
        """After `message_stop`: the usage (when reported), then how the message ended."""
        if self._input_tokens is not None or self._output_tokens is not None:
            every_input = (
                None
                if self._input_tokens is None
                else self._input_tokens + (self._cache_write or 0) + (self._cache_read or 0)
            )
            yield Usage(
                every_input,
                self._output_tokens,
                cache_write_tokens=self._cache_write or None,
                cache_read_tokens=self._cache_read or None,
            )
        reason = self._stop_reason or "end_turn"
        matched = self._stop_sequence if reason == "stop_sequence" else None
        yield Finished(STOP_REASONS.get(reason, "stop"), stop_sequence=matched)

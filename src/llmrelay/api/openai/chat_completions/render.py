"""Chat Completions' output shapes: the whole `chat.completion`, and the stream of chunks.

The stream is what OpenAI sends: a first chunk with the assistant role, one chunk per text
delta, a last chunk with `finish_reason`, then (with `stream_options.include_usage`) a chunk
with no choices and the usage, then `data: [DONE]`. A failure after the stream started is a
chunk `{"error": {...}}`, which OpenAI's SDKs raise as an `APIError`.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from llmrelay.accounting import token_pair
from llmrelay.api.openai.errors import error_response, failure_body
from llmrelay.providers.base import Finished, FinishReason, TextDelta, ToolCall, ToolCallDelta, Usage
from llmrelay.streams import Failure, GenerationResult, LogEvent
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer

# Provider finish reasons as Chat Completions names them (a cancelled answer has no reader).
FINISH_REASONS: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "cancelled": "stop",
    "error": "stop",
    "tool_calls": "tool_calls",
}


def usage_body(usage: Usage | None) -> dict[str, Any]:
    input_tokens, output_tokens = token_pair(usage)
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def tool_call_body(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def tool_call_delta(delta: ToolCallDelta) -> dict[str, Any]:
    """A piece of a call in OpenAI's chunk shape: the first carries index, id, type and name;
    later ones the index and an arguments fragment."""
    if delta.id is not None or delta.name is not None:
        return {
            "index": delta.index,
            "id": delta.id,
            "type": "function",
            "function": {"name": delta.name, "arguments": delta.arguments},
        }
    return {"index": delta.index, "function": {"arguments": delta.arguments}}


def completion(
    completion_id: str,
    model: str,
    created: int,
    text: str,
    reason: FinishReason,
    usage: Usage | None,
    tool_calls: tuple[ToolCall, ...] = (),
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["content"] = text or None
        message["tool_calls"] = [tool_call_body(call) for call in tool_calls]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS[reason],
            }
        ],
        "usage": usage_body(usage),
    }


class ChunkRenderer(Renderer):
    """A generation as Chat Completions shows it: `chat.completion.chunk` events, or the whole
    `chat.completion`; a failure before start in OpenAI's error body."""

    def __init__(self, completion_id: str, model: str, *, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.model = model
        self.include_usage = include_usage
        self.created = int(time.time())
        self._usage: Usage | None = None
        # The parts of a chunk that never change, serialised once (bench/notes.md: per-token cost).
        self._prefix = sse.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": model,
                "system_fingerprint": None,
            }
        )[:-1]

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        tail = ',"usage":null}' if self.include_usage else "}"
        return sse.encode(f'{self._prefix},"choices":{sse.dumps(choices)}{tail}')

    def opening(self) -> bytes:
        return self.chunk({"role": "assistant", "content": "", "refusal": None})

    def failure(self, failure: Failure) -> Response:
        return error_response(failure)

    def whole(self, result: GenerationResult) -> Response:
        body = completion(
            self.completion_id,
            self.model,
            self.created,
            result.text,
            result.finish_reason,
            result.usage,
            result.tool_calls,
        )
        return JSONResponse(body)

    def render(self, seq: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            return self.chunk({"content": event.text})
        if isinstance(event, ToolCallDelta):
            return self.chunk({"tool_calls": [tool_call_delta(event)]})
        if isinstance(event, Usage):
            self._usage = event
            return None
        if isinstance(event, Failure):
            return sse.encode(sse.dumps(failure_body(event)))
        if isinstance(event, Finished):
            if event.reason == "error":
                return None  # the error chunk said it all
            out = self.chunk({}, FINISH_REASONS[event.reason])
            if self.include_usage:
                usage = {
                    "id": self.completion_id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": usage_body(self._usage),
                }
                out += sse.encode(sse.dumps(usage))
            return out + sse.encode("[DONE]")
        return None

"""Chat Completions' output shapes: the whole `chat.completion`, and the stream of chunks.

The stream is what OpenAI sends: a first chunk with the assistant role, one chunk per text
delta (with its tokens' `logprobs` when asked; reasoning as `delta.reasoning_content`, the name
vLLM, DeepSeek and llama.cpp's server use; a refusal as `delta.refusal`), a last chunk with
`finish_reason` (per choice, for n > 1), then (with `stream_options.include_usage`) a chunk
with no choices and the usage, then `data: [DONE]`. A failure after the stream started is a
chunk `{"error": {...}}`, which OpenAI's SDKs raise as an `APIError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from llmrelay.accounting import summed, token_pair
from llmrelay.api.openai.errors import error_response, failure_body
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
from llmrelay.wire import sse
from llmrelay.wire.renderer import ChoicesRenderer

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
        # OpenAI's prompt_tokens count the cached ones too, as llmrelay's input tokens do.
        "prompt_tokens_details": {"cached_tokens": (usage.cache_read_tokens if usage else None) or 0},
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


def logprob_body(logprob: TokenLogprob, *, alternatives: bool = True) -> dict[str, Any]:
    """One token's log probability as Chat Completions shows it (`top_logprobs` on the token,
    not on its alternatives)."""
    raw = list(logprob.bytes) if logprob.bytes is not None else list(logprob.token.encode("utf-8"))
    body: dict[str, Any] = {"token": logprob.token, "logprob": logprob.logprob, "bytes": raw}
    if alternatives:
        body["top_logprobs"] = [logprob_body(top, alternatives=False) for top in logprob.top]
    return body


def logprobs_body(logprobs: tuple[TokenLogprob, ...]) -> dict[str, Any]:
    return {"content": [logprob_body(logprob) for logprob in logprobs], "refusal": None}


def message_body(result: GenerationResult) -> dict[str, Any]:
    """The assistant's message: its text (null when it only called tools or refused), its
    refusal, its calls, and (as vLLM and DeepSeek name it) the reasoning it showed."""
    text = result.text
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text or (None if result.tool_calls or result.refusal else ""),
        "refusal": result.refusal or None,
    }
    if result.reasoning:
        message["reasoning_content"] = result.reasoning
    if result.tool_calls:
        message["tool_calls"] = [tool_call_body(call) for call in result.tool_calls]
    return message


def completion(
    completion_id: str,
    model: str,
    created: int,
    results: Sequence[GenerationResult],
    *,
    logprobs: bool = False,
) -> dict[str, Any]:
    """The whole `chat.completion`: one choice per answer, the tokens they spent together."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": index,
                "message": message_body(result),
                "logprobs": logprobs_body(result.logprobs) if logprobs else None,
                "finish_reason": FINISH_REASONS[result.finish_reason],
            }
            for index, result in enumerate(results)
        ],
        "usage": usage_body(summed([result.usage for result in results])),
    }


class ChunkRenderer(ChoicesRenderer):
    """A generation as Chat Completions shows it: `chat.completion.chunk` events, or the whole
    `chat.completion`; a failure before start in OpenAI's error body.

    With `choices` > 1 (n), the answers' chunks interleave as they come, each with its index;
    each ends with its own `finish_reason` chunk, and the usage chunk (their sum) and `[DONE]`
    follow the last one's."""

    def __init__(
        self, completion_id: str, model: str, *, include_usage: bool, choices: int = 1, logprobs: bool = False
    ) -> None:
        self.completion_id = completion_id
        self.model = model
        self.include_usage = include_usage
        self.choices = choices
        # Whether the request asked for log probabilities (every choice then carries a list).
        self.logprobs = logprobs
        self.created = int(time.time())
        self._usage: list[Usage | None] = [None] * choices
        self._running = choices
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

    def chunk(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        *,
        index: int = 0,
        logprobs: dict[str, Any] | None = None,
    ) -> bytes:
        choices = [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}]
        tail = ',"usage":null}' if self.include_usage else "}"
        return sse.encode(f'{self._prefix},"choices":{sse.dumps(choices)}{tail}')

    def opening(self) -> bytes:
        role = {"role": "assistant", "content": "", "refusal": None}
        return b"".join(self.chunk(role, index=index) for index in range(self.choices))

    def failure(self, failure: Failure) -> Response:
        return error_response(failure)

    def whole_choices(self, results: Sequence[GenerationResult]) -> Response:
        body = completion(self.completion_id, self.model, self.created, results, logprobs=self.logprobs)
        return JSONResponse(body)

    def render_choice(self, index: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            if event.logprobs:
                return self.chunk(
                    {"content": event.text}, index=index, logprobs=logprobs_body(event.logprobs)
                )
            return self.chunk({"content": event.text}, index=index)
        if isinstance(event, ToolCallDelta):
            return self.chunk({"tool_calls": [tool_call_delta(event)]}, index=index)
        if isinstance(event, ReasoningDelta):
            return self.chunk({"reasoning_content": event.text}, index=index)
        if isinstance(event, RefusalDelta):
            return self.chunk({"refusal": event.text}, index=index)
        if isinstance(event, Usage):
            self._usage[index] = event
            return None
        if isinstance(event, Failure):
            self.ended = True  # the client's SDK raises on it: the other answers stop
            return sse.encode(sse.dumps(failure_body(event)))
        if isinstance(event, Finished):
            if event.reason == "error":
                return None  # the error chunk said it all
            out = self.chunk({}, FINISH_REASONS[event.reason], index=index)
            self._running -= 1
            if self._running:
                return out
            if self.include_usage:
                usage = {
                    "id": self.completion_id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": usage_body(summed(self._usage)),
                }
                out += sse.encode(sse.dumps(usage))
            return out + sse.encode("[DONE]")
        return None

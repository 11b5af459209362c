"""Chat Completions' output shapes: the whole `chat.completion`, and the stream of chunks.

The stream is what OpenAI sends: a first chunk with the assistant role, one chunk per text
delta, a last chunk with `finish_reason`, then (with `stream_options.include_usage`) a chunk
with no choices and the usage, then `data: [DONE]`. A failure after the stream started is a
chunk `{"error": {...}}`, which OpenAI's SDKs raise as an `APIError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmrelay import sse
from llmrelay.api.openai_errors import failure_body
from llmrelay.providers.base import Finished, FinishReason, TextDelta, Usage
from llmrelay.streams import Failure, LogEvent
from llmrelay.usage import token_counts

# Provider finish reasons as Chat Completions names them (a cancelled answer has no reader).
FINISH_REASONS: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "cancelled": "stop",
    "error": "stop",
}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def usage_body(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def completion(
    completion_id: str, model: str, created: int, text: str, reason: FinishReason, tokens: tuple[int, int]
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": FINISH_REASONS[reason],
            }
        ],
        "usage": usage_body(*tokens),
    }


@dataclass
class ChunkRenderer:
    """Turns a generation's log into `chat.completion.chunk` events (an `sse.Renderer`)."""

    completion_id: str
    model: str
    include_usage: bool
    # Counting, for when the provider reported no usage.
    prompt_tokens: Callable[[], int]
    count_tokens: Callable[[str], int]
    created: int = field(default_factory=lambda: int(time.time()))
    _text: list[str] = field(default_factory=list)
    _usage: Usage | None = None

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.include_usage:
            body["usage"] = None
        return sse.encode(dumps(body))

    def first(self) -> bytes:
        return self.chunk({"role": "assistant", "content": "", "refusal": None})

    def tokens(self) -> tuple[int, int]:
        return token_counts(self._usage, self.prompt_tokens, self.count_tokens, "".join(self._text))

    def __call__(self, generation_id: str, seq: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
            return self.chunk({"content": event.text})
        if isinstance(event, Usage):
            self._usage = event
            return None
        if isinstance(event, Failure):
            return sse.encode(dumps(failure_body(event)))
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
                    "usage": usage_body(*self.tokens()),
                }
                out += sse.encode(dumps(usage))
            return out + sse.encode("[DONE]")
        return None

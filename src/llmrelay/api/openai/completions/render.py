"""The legacy completion's output shapes: the whole `text_completion`, and its streamed chunks.

The stream is what OpenAI sends for this endpoint: `text_completion` objects with the text in
`choices[0].text` (the first carries the prompt when `echo` asked for it), a last one with an
empty text and the `finish_reason`, then (with `stream_options.include_usage`) one with no
choices and the usage, then `data: [DONE]`. A failure after the stream started is a chunk
`{"error": {...}}`, which OpenAI's SDKs raise as an `APIError`.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from llmrelay.accounting import token_pair
from llmrelay.api.openai.errors import error_response, failure_body
from llmrelay.providers.base import Finished, FinishReason, TextDelta, Usage
from llmrelay.streams import Failure, GenerationResult, LogEvent
from llmrelay.wire import sse
from llmrelay.wire.renderer import Renderer

# Provider finish reasons as this endpoint names them (a cancelled answer has no reader).
FINISH_REASONS: dict[FinishReason, str] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "cancelled": "stop",
    "error": "stop",
}


def usage_body(usage: Usage | None) -> dict[str, int]:
    input_tokens, output_tokens = token_pair(usage)
    return {
        "prompt_tokens": input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }


class CompletionRenderer(Renderer):
    """A generation as `text_completion` objects: chunks, or the whole one."""

    def __init__(self, completion_id: str, model: str, *, echo: str | None, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.model = model
        # The prompt, when the client asked for it back before the completion.
        self.echo = echo
        self.include_usage = include_usage
        self.created = int(time.time())
        self._usage: Usage | None = None

    def _object(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }

    def chunk(self, text: str, finish_reason: str | None = None) -> bytes:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        extra = {"usage": None} if self.include_usage else {}
        return sse.encode(sse.dumps(self._object([choice], **extra)))

    def opening(self) -> bytes:
        return self.chunk(self.echo) if self.echo else b""

    def failure(self, failure: Failure) -> Response:
        return error_response(failure)

    def whole(self, result: GenerationResult) -> Response:
        choice = {
            "text": (self.echo or "") + result.text,
            "index": 0,
            "logprobs": None,
            "finish_reason": FINISH_REASONS[result.finish_reason],
        }
        return JSONResponse(self._object([choice], usage=usage_body(result.usage)))

    def render(self, seq: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            return self.chunk(event.text)
        if isinstance(event, Usage):
            self._usage = event
            return None
        if isinstance(event, Failure):
            return sse.encode(sse.dumps(failure_body(event)))
        if isinstance(event, Finished):
            if event.reason == "error":
                return None  # the error chunk said it all
            out = self.chunk("", FINISH_REASONS[event.reason])
            if self.include_usage:
                out += sse.encode(sse.dumps(self._object([], usage=usage_body(self._usage))))
            return out + sse.encode("[DONE]")
        return None

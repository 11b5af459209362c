"""The legacy completion's output shapes: the whole `text_completion`, and its streamed chunks.

The stream is what OpenAI sends for this endpoint: `text_completion` objects with the text in
`choices[i].text` (and its tokens' `logprobs` when asked) (the first carries the prompt when `echo` asked for it), a last one with an
empty text and the `finish_reason`, then (with `stream_options.include_usage`) one with no
choices and the usage, then `data: [DONE]`. A failure after the stream started is a chunk
`{"error": {...}}`, which OpenAI's SDKs raise as an `APIError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response

from llmrelay.accounting import summed, token_pair
from llmrelay.api.openai.errors import error_response, failure_body
from llmrelay.providers.base import Finished, FinishReason, TextDelta, TokenLogprob, Usage
from llmrelay.streams import Failure, GenerationResult, LogEvent
from llmrelay.wire import sse
from llmrelay.wire.renderer import ChoicesRenderer

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


def logprobs_body(logprobs: Sequence[TokenLogprob], offset: int) -> dict[str, Any]:
    """Tokens' log probabilities in this endpoint's older shape: parallel lists, alternatives as
    {token: logprob}, each token's character offset in the text (`offset`: where they start)."""
    offsets = []
    for logprob in logprobs:
        offsets.append(offset)
        offset += len(logprob.token)
    return {
        "tokens": [logprob.token for logprob in logprobs],
        "token_logprobs": [logprob.logprob for logprob in logprobs],
        "top_logprobs": [{top.token: top.logprob for top in logprob.top} for logprob in logprobs],
        "text_offset": offsets,
    }


class CompletionRenderer(ChoicesRenderer):
    """A generation as `text_completion` objects: chunks, or the whole one. With `choices` > 1
    (n), the answers' chunks interleave, each with its index; the usage (their sum) and
    `[DONE]` follow the last one's end."""

    def __init__(
        self,
        completion_id: str,
        model: str,
        *,
        echo: str | None,
        include_usage: bool,
        choices: int = 1,
        logprobs: bool = False,
    ) -> None:
        self.completion_id = completion_id
        self.model = model
        # The prompt, when the client asked for it back before the completion.
        self.echo = echo
        self.include_usage = include_usage
        self.choices = choices
        self.logprobs = logprobs
        self.created = int(time.time())
        self._usage: list[Usage | None] = [None] * choices
        self._running = choices
        # Where each answer's next token starts in its text (after an echoed prompt).
        self._offsets = [len(echo or "")] * choices

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

    def chunk(
        self,
        text: str,
        finish_reason: str | None = None,
        *,
        index: int = 0,
        logprobs: dict[str, Any] | None = None,
    ) -> bytes:
        choice = {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish_reason}
        extra = {"usage": None} if self.include_usage else {}
        return sse.encode(sse.dumps(self._object([choice], **extra)))

    def opening(self) -> bytes:
        if not self.echo:
            return b""
        return b"".join(self.chunk(self.echo, index=index) for index in range(self.choices))

    def failure(self, failure: Failure) -> Response:
        return error_response(failure)

    def whole_choices(self, results: Sequence[GenerationResult]) -> Response:
        start = len(self.echo or "")
        choices = [
            {
                "text": (self.echo or "") + result.text,
                "index": index,
                "logprobs": logprobs_body(result.logprobs, start) if self.logprobs else None,
                "finish_reason": FINISH_REASONS[result.finish_reason],
            }
            for index, result in enumerate(results)
        ]
        usage = usage_body(summed([result.usage for result in results]))
        return JSONResponse(self._object(choices, usage=usage))

    def render_choice(self, index: int, event: LogEvent) -> bytes | None:
        if isinstance(event, TextDelta):
            if not event.logprobs:
                return self.chunk(event.text, index=index)
            logprobs = logprobs_body(event.logprobs, self._offsets[index])
            self._offsets[index] += sum(len(logprob.token) for logprob in event.logprobs)
            return self.chunk(event.text, index=index, logprobs=logprobs)
        if isinstance(event, Usage):
            self._usage[index] = event
            return None
        if isinstance(event, Failure):
            self.ended = True  # the client's SDK raises on it: the other answers stop
            return sse.encode(sse.dumps(failure_body(event)))
        if isinstance(event, Finished):
            if event.reason == "error":
                return None  # the error chunk said it all
            out = self.chunk("", FINISH_REASONS[event.reason], index=index)
            self._running -= 1
            if self._running:
                return out
            if self.include_usage:
                out += sse.encode(sse.dumps(self._object([], usage=usage_body(summed(self._usage)))))
            return out + sse.encode("[DONE]")
        return None

"""The `openai` backend: OpenAI's Responses API, streamed through `AsyncOpenAI`.

One request per generation: `responses.create(stream=True)` with the conversation as a message
list. Of the stream's many events, three kinds matter here: text deltas, the one terminal event
(`response.completed` / `response.incomplete`, with usage) and failures (`response.failed`,
`error`). A stream that ends without a terminal event was cut short, and says so (the shared
`OpenAISDKProvider.stream` reads the body, closes it and translates failures).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmrelay.providers.base import Finished, FinishReason, GenerationRequest, ProviderEvent, Usage
from llmrelay.providers.openai_sdk.client import (
    OpenAISDKProvider,
    OpenedStream,
    ReportedFailure,
    StreamParser,
)

# Text the model streams: its answer, or its refusal (which a person should see too).
_TEXT_EVENTS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})


class ResponsesProvider(OpenAISDKProvider):
    name = "openai"

    def open_stream(self, request: GenerationRequest) -> OpenedStream:
        # (The Responses API has no stop sequences; `request.stop` cannot be honoured here.)
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "input": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "max_output_tokens": self.output_limit(request),
            **self.sampling(request),
        }
        return self._client.responses.with_streaming_response.create(**params)

    def parser(self) -> StreamParser:
        return ResponsesParser()


class ResponsesParser(StreamParser):
    def __init__(self) -> None:
        self._response: dict[str, Any] = {}

    def read_event(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        if kind in _TEXT_EVENTS:
            delta: str | None = event.get("delta")
            return delta
        if kind in _TERMINAL_EVENTS:
            # Nothing after the terminal event matters: stop reading there.
            self._response = event.get("response") or {}
            self.complete = self.ended = True
        elif kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            raise ReportedFailure(error.get("message"), error.get("code"))
        elif kind == "error":
            raise ReportedFailure(event.get("message"), event.get("code"))
        return None

    def closing_events(self) -> Iterable[ProviderEvent]:
        usage = self._response.get("usage")
        if usage:
            yield Usage(usage.get("input_tokens"), usage.get("output_tokens"))
        yield Finished(_finish_reason(self._response))


def _finish_reason(response: dict[str, Any]) -> FinishReason:
    if response.get("status") != "incomplete":
        return "stop"
    reason = (response.get("incomplete_details") or {}).get("reason")
    return "content_filter" if reason == "content_filter" else "length"

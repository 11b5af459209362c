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

from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    FinishReason,
    GenerationRequest,
    ProviderEvent,
    ToolCallDelta,
    Usage,
)
from llmrelay.providers.openai_sdk.client import (
    OpenAISDKProvider,
    ReportedFailure,
    StreamParser,
)
from llmrelay.providers.openai_sdk.shapes import responses_extras, responses_input

# Text the model streams: its answer, or its refusal (which a person should see too).
_TEXT_EVENTS = frozenset({"response.output_text.delta", "response.refusal.delta"})
_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})


class ResponsesProvider(OpenAISDKProvider):
    name = "openai"
    path = "/responses"
    # The Responses API has no stop sequences, seed, penalties or top_k: asked for, they are a 400.
    cannot = frozenset({"stop", "seed", "presence_penalty", "frequency_penalty", "top_k"})

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        # The Responses API has no raw completion: a raw prompt goes as one user message.
        messages = request.messages if request.prompt is None else [ChatMessage("user", request.prompt)]
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "input": responses_input(messages),
            "stream": True,
            "max_output_tokens": self.output_limit(request),
            **self.sampling(request),
            **responses_extras(request),
        }
        return params

    def parser(self) -> StreamParser:
        return ResponsesParser()


class ResponsesParser(StreamParser):
    def __init__(self) -> None:
        super().__init__()
        self._response: dict[str, Any] = {}
        # Function call items by their item id / output index -> llmrelay's call index.
        self._calls: dict[object, int] = {}

    def read_event(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        if kind in _TEXT_EVENTS:
            delta: str | None = event.get("delta")
            return delta
        if kind == "response.function_call_arguments.delta":
            index = self._calls.get(event.get("item_id"), self._calls.get(event.get("output_index")))
            if index is not None:
                self.pending.append(ToolCallDelta(index, arguments=event.get("delta") or ""))
            return None
        if kind == "response.output_item.added":
            item = event.get("item") or {}
            if item.get("type") == "function_call":
                index = len(set(self._calls.values()))
                self._calls[item.get("id")] = self._calls[event.get("output_index")] = index
                self.pending.append(
                    ToolCallDelta(
                        index,
                        id=item.get("call_id"),
                        name=item.get("name"),
                        arguments=item.get("arguments") or "",
                    )
                )
            return None
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
        reason = _finish_reason(self._response)
        yield Finished("tool_calls" if reason == "stop" and self._calls else reason)


def _finish_reason(response: dict[str, Any]) -> FinishReason:
    if response.get("status") != "incomplete":
        return "stop"
    reason = (response.get("incomplete_details") or {}).get("reason")
    return "content_filter" if reason == "content_filter" else "length"

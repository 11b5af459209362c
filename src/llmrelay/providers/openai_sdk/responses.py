"""The `openai` backend: OpenAI's Responses API, streamed through `AsyncOpenAI`.

One request per generation: `responses.create(stream=True)` with the conversation as a message
list (and `include` / `top_logprobs` where the request asks for log probabilities). Of the
stream's many events, these matter here: text deltas (with their tokens' `logprobs`), refusal
deltas, reasoning (summary) text deltas, function calls, the one terminal event
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
    ReasoningDelta,
    RefusalDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from llmrelay.providers.openai_sdk.client import (
    OpenAISDKProvider,
    ReportedFailure,
    StreamParser,
)
from llmrelay.providers.openai_sdk.shapes import (
    cached_tokens,
    responses_extras,
    responses_input,
    token_logprob,
)

_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})
# The reasoning a model shows: a summary of it (OpenAI's models), or the reasoning itself
# (open-weight models behind a Responses server, such as vLLM's).
_REASONING_EVENTS = frozenset({"response.reasoning_summary_text.delta", "response.reasoning_text.delta"})


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
        # Which reasoning part (item, summary or content index) the last reasoning came from.
        self._reasoning_part: tuple[object, object] | None = None

    def read_event(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta: str | None = event.get("delta")
            logprobs = event.get("logprobs")
            if delta and logprobs:
                # Through `pending`, with its tokens (each event's own: the whole text's come
                # again at its end, in `.done` and the final response, and are not read).
                self.pending.append(TextDelta(delta, tuple(token_logprob(item) for item in logprobs)))
                return None
            return delta
        if kind == "response.refusal.delta":
            if event.get("delta"):
                self.pending.append(RefusalDelta(event["delta"]))
            return None
        if kind in _REASONING_EVENTS:
            self._reasoning(event, summary=kind == "response.reasoning_summary_text.delta")
            return None
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

    def _reasoning(self, event: dict[str, Any], *, summary: bool) -> None:
        """Reasoning text, or a summary of it, as one run of text: a new part of it (the next
        summary paragraph, or another reasoning item) starts after a blank line."""
        delta = event.get("delta")
        if not delta:
            return
        part = (event.get("item_id"), event.get("summary_index", event.get("content_index")))
        if self._reasoning_part is not None and part != self._reasoning_part:
            delta = "\n\n" + delta
        self._reasoning_part = part
        self.pending.append(ReasoningDelta(delta, summary=summary))

    def closing_events(self) -> Iterable[ProviderEvent]:
        usage = self._response.get("usage")
        if usage:
            # input_tokens count the cached ones too, as llmrelay's do.
            yield Usage(
                usage.get("input_tokens"),
                usage.get("output_tokens"),
                cache_read_tokens=cached_tokens(usage.get("input_tokens_details")),
            )
        reason = _finish_reason(self._response)
        yield Finished("tool_calls" if reason == "stop" and self._calls else reason)


def _finish_reason(response: dict[str, Any]) -> FinishReason:
    if response.get("status") != "incomplete":
        return "stop"
    reason = (response.get("incomplete_details") or {}).get("reason")
    return "content_filter" if reason == "content_filter" else "length"

"""The renderer protocol: how one wire format shows a generation.

Every answer llmrelay gives goes out through a `Renderer` — the tutorial's events, the chat
API's JSON events, Chat Completions chunks, Responses events. A renderer says four things:
- `opening()`: the stream's first event(s), sent once the generation is known to have started;
- `render(seq, event)`: one event of the generation's log (text, the tokens spent, a failure,
  the end), or None for events this format does not carry;
- `failure(failure)`: a generation that failed before it started, as an HTTP response in this
  format's own error shape (the status is still ours to choose);
- `whole(result)`: a non-streamed answer (formats that have one);
- `ping_event()`: what keeps an idle stream open, where the format has its own (Anthropic's
  `event: ping`); None for the SSE comment every client ignores.
`replay(events)` shows a stored answer (no longer in memory) the way a live one was shown.

A renderer holds the ids it puts on events, and any state a format needs across events (the
Responses API numbers its events; Chat Completions repeats `created`): one renderer per response.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence

from sse_starlette import ServerSentEvent
from starlette.responses import Response

from llmrelay.providers.base import Finished, FinishReason, TextDelta, ToolCall, ToolCallDelta, Usage
from llmrelay.streams import Failure, GenerationResult, LogEvent


class Renderer(ABC):
    def opening(self) -> bytes:
        return b""

    @abstractmethod
    def render(self, seq: int, event: LogEvent) -> bytes | None: ...

    @abstractmethod
    def failure(self, failure: Failure) -> Response: ...

    def whole(self, result: GenerationResult) -> Response:
        raise NotImplementedError(f"{type(self).__name__} has no non-streamed form")

    def ping_event(self) -> ServerSentEvent | None:
        return None

    async def replay(self, events: Sequence[LogEvent]) -> AsyncIterator[bytes]:
        opening = self.opening()
        if opening:
            yield opening
        for seq, event in enumerate(events, start=1):
            chunk = self.render(seq, event)
            if chunk:
                yield chunk


class ChoicesRenderer(Renderer):
    """A format that can show several answers to one request in one response, each by its
    index (Chat Completions' and legacy completions' `choices`, for `n` > 1).

    `render_choice(index, event)` renders one event of answer `index`'s log; the stream ends
    when the last answer's `Finished` has been rendered, or at once when `ended` turns true (an
    answer failed: the error went out, and the others are stopped). `whole_choices(results)`
    is the non-streamed answer with all of them. One answer is index 0 of the same format."""

    ended: bool = False

    @abstractmethod
    def render_choice(self, index: int, event: LogEvent) -> bytes | None: ...

    @abstractmethod
    def whole_choices(self, results: Sequence[GenerationResult]) -> Response: ...

    def render(self, seq: int, event: LogEvent) -> bytes | None:
        return self.render_choice(0, event)

    def whole(self, result: GenerationResult) -> Response:
        return self.whole_choices([result])


def stored_events(
    text: str,
    usage: Usage | None,
    failure: Failure | None,
    reason: FinishReason,
    tool_calls: Sequence[ToolCall] = (),
) -> list[LogEvent]:
    """The log a finished answer had, rebuilt from what the store kept of it (each tool call
    as one piece carrying its id, name and whole arguments)."""
    events: list[LogEvent] = []
    if text:
        events.append(TextDelta(text))
    for index, call in enumerate(tool_calls):
        events.append(ToolCallDelta(index, id=call.id, name=call.name, arguments=call.arguments))
    if usage is not None:
        events.append(usage)
    if failure is not None:
        events.append(failure)
    events.append(Finished(reason))
    return events

"""Server-Sent Events: turning a generation's log into an event stream.

Framing is sse-starlette's (`ServerSentEvent.encode` splits data on CR, LF and CRLF into one
`data:` line each, and keeps the space after the colon); this module only decides which
events a stream carries and what their ids are. Ids are `<generation id>.<seq>`, so a
reconnecting `EventSource` tells us with `Last-Event-ID` which answer it was reading and how far.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from sse_starlette import EventSourceResponse, ServerSentEvent

from llmrelay.providers.base import Finished, TextDelta
from llmrelay.streams import Failure, Generation, LogEvent

# The tutorial's headers; sse-starlette adds Connection: keep-alive.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
PING_SECONDS = 15
# Ask a browser to reconnect soon after a drop: well inside the detach grace period.
RECONNECT_MILLISECONDS = 1000

Renderer = Callable[[str, int, LogEvent], bytes | None]


def event_id(generation_id: str, seq: int) -> str:
    return f"{generation_id}.{seq}"


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    """`gen_x.12` -> ("gen_x", 12); anything else -> None."""
    if not value:
        return None
    generation_id, _, seq = value.strip().rpartition(".")
    if not generation_id or not seq.isdigit():
        return None
    return generation_id, int(seq)


def encode(data: str, *, event: str | None = None, id: str | None = None, retry: int | None = None) -> bytes:
    return ServerSentEvent(data=data, event=event, id=id, retry=retry, sep="\n").encode()


def render_tutorial(generation_id: str, seq: int, event: LogEvent) -> bytes | None:
    """The tutorial's format: unnamed events with raw text, then `end` / `[END]`."""
    if isinstance(event, TextDelta):
        return encode(event.text, id=event_id(generation_id, seq))
    if isinstance(event, Failure):
        return encode(event.message, event="error", id=event_id(generation_id, seq))
    if isinstance(event, Finished):
        return encode("[END]", event="end", id=event_id(generation_id, seq))
    return None  # usage is not part of the tutorial's stream


def tutorial_start(generation_id: str) -> bytes:
    return encode("[START]", event="start", id=event_id(generation_id, 0), retry=RECONNECT_MILLISECONDS)


async def follow(
    generation: Generation, after: int, render: Renderer, first: bytes | None = None
) -> AsyncIterator[bytes]:
    """The generation's events after `after`, rendered; a batch of events becomes one write."""
    if first is not None:
        yield first
    async for batch in generation.listen(after):
        chunk = b"".join(filter(None, (render(generation.id, seq, event) for seq, event in batch)))
        if chunk:
            yield chunk


def event_stream(body: AsyncIterator[bytes]) -> EventSourceResponse:
    return EventSourceResponse(body, headers=SSE_HEADERS, ping=PING_SECONDS, sep="\n")

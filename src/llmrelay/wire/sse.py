"""Server-Sent Events: turning a generation's log into an event stream.

Framing is sse-starlette's (`ServerSentEvent.encode` splits data on CR, LF and CRLF into one
`data:` line each, and keeps the space after the colon); this module only decides which
events a stream carries and what their ids are. Ids are `<generation id>.<seq>`, so a
reconnecting `EventSource` tells us with `Last-Event-ID` which answer it was reading and how far.
With a shared log (LLMRELAY_REDIS_URL) they are `<generation id>.<epoch>.<seq>`: the epoch names
that instance of the log, so a position is never applied to another log after a Redis restart or
flush. Generation ids never contain a dot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from sse_starlette import EventSourceResponse, ServerSentEvent

from llmrelay.streams import GenerationHandle, LogEvent

# The tutorial's headers; sse-starlette adds Connection: keep-alive.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
PING_SECONDS = 15
# Ask a browser to reconnect soon after a drop: well inside the detach grace period.
RECONNECT_MILLISECONDS = 1000


class EventEncoder(Protocol):
    """What `follow` needs of a renderer: one log event (at position `seq`) as bytes, or None."""

    def render(self, seq: int, event: LogEvent) -> bytes | None: ...


def dumps(value: Any) -> str:
    """An event's JSON data: compact, and UTF-8 as it is (every wire format here sends it so)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def event_id(generation_id: str, seq: int) -> str:
    return f"{generation_id}.{seq}"


def stream_name(generation: GenerationHandle) -> str:
    """What event ids start with: the generation's id, and its log's epoch when it has one."""
    epoch = generation.log.epoch
    return generation.id if epoch is None else f"{generation.id}.{epoch}"


def split_stream_name(name: str) -> tuple[str, str | None]:
    """`gen_x.ab12` -> ("gen_x", "ab12"); `gen_x` -> ("gen_x", None)."""
    generation_id, _, epoch = name.partition(".")
    return generation_id, epoch or None


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    """`gen_x.12` -> ("gen_x", 12), `gen_x.ab12.12` -> ("gen_x.ab12", 12); anything else -> None."""
    if not value:
        return None
    generation_id, _, seq = value.strip().rpartition(".")
    if not generation_id or not seq.isdigit():
        return None
    return generation_id, int(seq)


def encode(data: str, *, event: str | None = None, id: str | None = None, retry: int | None = None) -> bytes:
    return ServerSentEvent(data=data, event=event, id=id, retry=retry, sep="\n").encode()


async def follow(
    generation: GenerationHandle, after: int, renderer: EventEncoder, first: bytes | None = None
) -> AsyncIterator[bytes]:
    """The generation's events after `after`, rendered; a batch of events becomes one write."""
    if first:
        yield first
    render = renderer.render
    async for batch in generation.listen(after):
        chunk = b"".join(filter(None, (render(seq, event) for seq, event in batch)))
        if chunk:
            yield chunk


class ChoiceEncoder(Protocol):
    """What `follow_choices` needs of a renderer (wire.renderer.ChoicesRenderer)."""

    @property
    def ended(self) -> bool: ...

    def render_choice(self, index: int, event: LogEvent) -> bytes | None: ...


async def follow_choices(
    generations: Sequence[GenerationHandle], renderer: ChoiceEncoder, first: bytes | None = None
) -> AsyncIterator[bytes]:
    """Several generations' events (n answers to one request) interleaved as they come, each
    rendered with its answer's index; a batch of one answer's events becomes one write. Each
    log is followed by its own task; leaving (or `renderer.ended`) stops following them all,
    which detaches their listeners (so answers nobody reads stop)."""
    if first:
        yield first
    batches: asyncio.Queue[tuple[int, list[tuple[int, LogEvent]] | None]] = asyncio.Queue()

    async def pump(index: int, generation: GenerationHandle) -> None:
        try:
            async for batch in generation.listen(0):
                batches.put_nowait((index, batch))
        finally:
            batches.put_nowait((index, None))

    tasks = [
        asyncio.get_running_loop().create_task(pump(index, generation), name=f"follow-{generation.id}")
        for index, generation in enumerate(generations)
    ]
    try:
        following = len(tasks)
        while following:
            index, batch = await batches.get()
            if batch is None:
                following -= 1
                continue
            render = renderer.render_choice
            chunk = b"".join(filter(None, (render(index, event) for _, event in batch)))
            if chunk:
                yield chunk
            if renderer.ended:
                return
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def event_stream(body: AsyncIterator[bytes], ping: ServerSentEvent | None = None) -> EventSourceResponse:
    """`body` as an event stream; every PING_SECONDS of quiet, `ping` (default: a comment)."""
    factory = None if ping is None else (lambda: ping)
    return EventSourceResponse(
        body, headers=SSE_HEADERS, ping=PING_SECONDS, sep="\n", ping_message_factory=factory
    )

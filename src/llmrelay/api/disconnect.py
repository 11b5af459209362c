"""Watching for a client that left while its handler waits on a model.

Starlette does not cancel a handler whose client left, so a handler that waits (for a whole
answer, or for a stream's first event) races the wait against the client's disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from llmrelay.streams import DETACHED, Generation, GenerationResult, LogEvent

T = TypeVar("T")


async def wait_for_disconnect(request: Request) -> None:
    """Returns when the client goes away. Only for use once the body has been read."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, awaitable: Awaitable[T]) -> tuple[bool, T | None]:
    """Await `awaitable` unless the client leaves first: (True, value) or (False, None).

    Starlette does not cancel a handler whose client left, so a handler that waits on the
    model (a non-streamed answer, or the first token) watches for it itself.
    """
    work = asyncio.ensure_future(awaitable)
    gone = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not work.done():
            work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await gone
    if work.done() and not work.cancelled():
        return True, work.result()
    return False, None


class ClientGone(Exception):
    """The client left while its handler waited; the generation has been cancelled.

    The app answers it with 499 (nginx's "client closed request"), which nobody reads: it only
    ends the handler and marks the log line."""


async def first_event(request: Request, generation: Generation) -> LogEvent:
    """Open the upstream (up to its first event) while a failure can still be a status.

    Raced as a plain future (no task wrapping a wait), and not at all when the event is
    already there: one task per request fewer on the path to the first byte."""
    if len(generation.log):
        return generation.log.read(0)[0]
    opened, first = await unless_disconnected(request, generation.first_event_future())
    if not opened or first is None:
        if generation.grace_seconds != DETACHED:  # a background answer goes on regardless
            generation.cancel()
        raise ClientGone
    return first


async def final_result(request: Request, generation: Generation) -> GenerationResult:
    """The end of a non-streamed answer, unless the client leaves first (then it stops)."""
    done, result = await unless_disconnected(request, generation.wait_finished())
    if not done or result is None:
        generation.cancel()
        raise ClientGone
    return result

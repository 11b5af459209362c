"""Watching for a client that left while its handler waits on a model.

Starlette does not cancel a handler whose client left, so a handler that waits (for a whole
answer, or for a stream's first event) races the wait against the client's disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
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


async def first_event_of_any(request: Request, generations: Sequence[Generation]) -> LogEvent:
    """Several answers to one request (n choices): the first event any of them logged. A
    failure first means the stream should not open; text first, it opens (an answer that fails
    later ends it with an error). Each generation's own turn may come late (the embedded model
    answers one at a time), so waiting for all of them would hold the stream back."""
    for generation in generations:
        if len(generation.log):
            return generation.log.read(0)[0]
    futures = [generation.first_event_future() for generation in generations]

    async def earliest() -> LogEvent:
        done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()

    try:
        opened, first = await unless_disconnected(request, earliest())
    finally:
        for future in futures:
            future.cancel()
    if not opened or first is None:
        for generation in generations:
            generation.cancel()
        raise ClientGone
    return first


async def final_results(request: Request, generations: Sequence[Generation]) -> list[GenerationResult]:
    """The ends of several non-streamed answers, in their order, unless the client leaves first
    (then they all stop). Once one fails, the others are stopped: the response is that failure."""

    async def all_ended() -> list[GenerationResult]:
        waits = [asyncio.ensure_future(generation.wait_finished()) for generation in generations]
        try:
            pending = set(waits)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if any(wait.result().failure is not None for wait in done):
                    for generation in generations:
                        generation.cancel()
            return [wait.result() for wait in waits]
        finally:
            for wait in waits:
                wait.cancel()

    done, results = await unless_disconnected(request, all_ended())
    if not done or results is None:
        for generation in generations:
            generation.cancel()
        raise ClientGone
    return results

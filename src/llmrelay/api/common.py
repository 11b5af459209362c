"""Pieces several routers share: message checks and watching for a client that left."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import HTTPException, Request

from llmrelay.settings import Settings
from llmrelay.streams import Failure, Generation, GenerationResult, LogEvent

T = TypeVar("T")


def clean_message(message: str | None, settings: Settings) -> str:
    """The message as given, if it is usable; otherwise a 422 / 413 saying why."""
    if message is None:
        raise HTTPException(422, "message is required.")
    if not message.strip():
        raise HTTPException(422, "message must not be empty or only whitespace.")
    if len(message) > settings.max_message_chars:
        raise HTTPException(
            413,
            f"message is {len(message)} characters; the limit is {settings.max_message_chars} "
            "(LLMRELAY_MAX_MESSAGE_CHARS).",
        )
    return message


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


def raise_if_failed(event: LogEvent) -> None:
    """A generation whose first event is a failure never started: that is an HTTP status."""
    if isinstance(event, Failure):
        raise HTTPException(event.status, event.message)


class ClientGone(Exception):
    """The client left while its handler waited; the generation has been cancelled.

    The app answers it with 499 (nginx's "client closed request"), which nobody reads: it only
    ends the handler and marks the log line."""


async def first_event(request: Request, generation: Generation) -> LogEvent:
    """Open the upstream (up to its first event) while a failure can still be a status."""
    opened, first = await unless_disconnected(request, generation.wait_first_event())
    if not opened or first is None:
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

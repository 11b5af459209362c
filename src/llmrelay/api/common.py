"""Pieces several routers share: message checks and watching for a client that left."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import HTTPException, Request

from llmrelay.settings import Settings
from llmrelay.streams import Failure, LogEvent

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

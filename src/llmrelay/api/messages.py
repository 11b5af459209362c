"""The message a person typed, checked the same way on every route that takes one."""

from __future__ import annotations

from fastapi import HTTPException

from llmrelay.settings import Settings


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

"""The message a person typed (and the images they attached), checked the same way on every
route that takes one."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from fastapi import HTTPException

from llmrelay.providers.base import Provider
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


# What the page attaches and every upstream that sees takes; SVG is left out on purpose (it is
# a document that can hold script, and the page shows each image back as a thumbnail).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGES = 8
_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>[A-Za-z0-9+/]*={0,2})", re.ASCII)


def clean_images(
    images: Sequence[str], provider: Provider, settings: Settings, model_name: str
) -> tuple[str, ...]:
    """Images sent with a message, as base64 data URLs of a common type, within the size
    limit, to a model that sees (`model_name`: what the caller chose it by); otherwise a 400 /
    413 / 422 saying why. Only data URLs: a link would have the server (and every browser
    showing the conversation) fetch it."""
    if not images:
        return ()
    if not provider.info.sees_images:
        raise HTTPException(
            400, f"The model {model_name!r} cannot see images; send text only, or choose a model that sees."
        )
    if len(images) > MAX_IMAGES:
        raise HTTPException(422, f"{len(images)} images sent; at most {MAX_IMAGES} go with one message.")
    for index, url in enumerate(images):
        match = _DATA_URL.fullmatch(url)
        if match is None or match["type"].lower() not in IMAGE_TYPES:
            raise HTTPException(
                422,
                f"images[{index}] must be a data URL (data:image/png;base64,…) of a PNG, JPEG, GIF or WebP image.",
            )
        try:
            size = len(base64.b64decode(match["data"], validate=True))
        except binascii.Error:
            raise HTTPException(422, f"images[{index}] is not valid base64.") from None
        if size > settings.max_image_bytes:
            raise HTTPException(
                413,
                f"images[{index}] is {size} bytes; the limit is {settings.max_image_bytes} (LLMRELAY_MAX_IMAGE_BYTES).",
            )
    return tuple(images)

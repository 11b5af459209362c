"""The HTTP client under both SDKs (OpenAI's and Anthropic's, each an httpx2 API).

Transport: aiohttp (the SDKs' `aiohttp` extra: llhttp, in C, parses the upstream's bytes) or
httpx2's own (httpcore2 over h11, pure Python). aiohttp costs 0.45 of the CPU per 200-token
answer and 0.70 per 1-token one (bench/upstream_read.py, bench/notes.md); "httpx" stays for an
upstream URL with credentials in it, which aiohttp refuses, and for that comparison.

Either way the client tells the running stream when its request goes out
(`providers.base.request_sent`): what the SDK did before that is llmrelay's own time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import httpx2

from llmrelay.providers.base import request_sent

Transport = Literal["aiohttp", "httpx"]


# An SDK's own client class (`DefaultAioHttpClient`, `DefaultAsyncHttpxClient`): httpx2's
# client with the SDK's timeouts and pool limits.
ClientClass = Callable[..., httpx2.AsyncClient]


async def _on_request(request: httpx2.Request) -> None:
    request_sent()


def transport_for(wanted: Transport, base_url: str | None) -> Transport:
    """aiohttp refuses a URL with credentials in it beside the SDK's Authorization header
    (a ValueError per request); such an upstream gets httpx2's transport, which sends both."""
    if wanted == "aiohttp" and not (base_url and httpx2.URL(base_url).userinfo):
        return "aiohttp"
    return "httpx"


def http_client(transport: Transport, *, aiohttp: ClientClass, httpx: ClientClass) -> httpx2.AsyncClient:
    """An SDK's client class for `transport`, with the request hook."""
    make = aiohttp if transport == "aiohttp" else httpx
    return make(event_hooks={"request": [_on_request]})

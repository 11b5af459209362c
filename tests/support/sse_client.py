"""A real SSE client for tests: httpx + httpx-sse, the way a program would read llmrelay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse


@dataclass
class Event:
    event: str
    data: str
    id: str


def read_events(url: str, *, method: str = "GET", limit: int | None = None, **kwargs: Any) -> list[Event]:
    """All events of one stream (or the first `limit`), then the connection is closed."""
    events: list[Event] = []
    with httpx.Client(timeout=60) as client, connect_sse(client, method, url, **kwargs) as source:
        source.response.raise_for_status()
        for sse in source.iter_sse():
            events.append(Event(sse.event, sse.data, sse.id))
            if limit is not None and len(events) >= limit:
                break
    return events


def deltas(events: list[Event]) -> list[str]:
    return [e.data for e in events if e.event == "message"]


async def messages_events(url: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """POST /v1/messages streamed and read its events as any SSE client would: (name, data)."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as http,
        aconnect_sse(http, "POST", "/v1/messages", json={"stream": True, **body}) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        return [(event.event, json.loads(event.data)) async for event in source.aiter_sse()]

"""Load generator: N concurrent SSE streams over raw asyncio + httptools, each answer checked.

Raw sockets rather than httpx: the client shares 2 cores with the server it measures, so it
must cost as little as possible per event. Each stream records when it started, when its first
token arrived, the gap before every later token, when it ended, and whether its text was,
byte for byte, the answer the fake upstream sends.

Formats of stream it reads:
- `tutorial`: llmrelay's `/chat-stream` (unnamed events carry text; `end` ends; `error` fails)
- `chat`: OpenAI Chat Completions chunks (`choices[0].delta.content`; `data: [DONE]` ends)
- `responses`: OpenAI Responses events (`response.output_text.delta`; `response.completed`)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httptools

CONNECT_CONCURRENCY = 256  # connects in flight at once (keeps the listen backlog from overflowing)


@dataclass
class Target:
    host: str
    port: int
    method: str
    path: str
    body: bytes | None
    fmt: str  # tutorial | chat | responses
    expected: str
    check: bool = True  # False for a real model, whose answer nobody can know beforehand

    def request_bytes(self) -> bytes:
        # Every server under test is configured with the key sk-bench, as a gateway would be.
        lines = [
            f"{self.method} {self.path} HTTP/1.1",
            f"host: {self.host}:{self.port}",
            "accept: text/event-stream",
            "connection: close",
            "authorization: Bearer sk-bench",
        ]
        if self.body is not None:
            lines += ["content-type: application/json", f"content-length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (self.body or b"")


@dataclass
class StreamResult:
    ok: bool
    error: str = ""
    status: int = 0
    started: float = 0.0
    ttft: float | None = None
    total: float | None = None
    tokens: int = 0
    gaps: list[float] = field(default_factory=list)


class _SSEClient(asyncio.Protocol):
    def __init__(self, target: Target, result: StreamResult, done: asyncio.Future[None]) -> None:
        self.target = target
        self.result = result
        self.done = done
        self.parser = httptools.HttpResponseParser(self)
        self.buffer = b""
        self.pieces: list[str] = []
        self.last = 0.0
        self.finished = False
        self.transport: asyncio.Transport | None = None
        self.handle: Callable[[str | None, list[str]], None] = {
            "tutorial": self._tutorial,
            "chat": self._chat,
            "responses": self._responses,
        }[target.fmt]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        transport.write(self.target.request_bytes())

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(f"bad HTTP: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.fail("connection closed before the stream ended" + (f" ({exc})" if exc else ""))

    def on_headers_complete(self) -> None:
        self.result.status = self.parser.get_status_code()
        if self.result.status != 200:
            self.fail(f"HTTP {self.result.status}")

    def on_body(self, body: bytes) -> None:
        self.buffer += body.replace(b"\r\n", b"\n")
        while b"\n\n" in self.buffer and not self.done.done():
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            event: str | None = None
            data: list[str] = []
            for line in block.decode().split("\n"):
                if line.startswith("data:"):
                    data.append(line[6:] if line.startswith("data: ") else line[5:])
                elif line.startswith("event:"):
                    event = line[6:].strip()
            if data or event:
                self.handle(event, data)

    def on_message_complete(self) -> None:
        if not self.done.done():
            self.fail("the response ended without an end event")

    # --- formats ----------------------------------------------------------------------
    def _token(self, text: str) -> None:
        now = time.perf_counter()
        if self.result.ttft is None:
            self.result.ttft = now - self.result.started
        else:
            self.result.gaps.append(now - self.last)
        self.last = now
        self.pieces.append(text)

    def _tutorial(self, event: str | None, data: list[str]) -> None:
        if event is None or event == "message":
            self._token("\n".join(data))
        elif event == "end":
            self.end()
        elif event == "error":
            self.fail("error event: " + "\n".join(data))

    def _chat(self, event: str | None, data: list[str]) -> None:
        raw = "\n".join(data)
        if raw == "[DONE]":
            self.end()
            return
        chunk = json.loads(raw)
        if "error" in chunk:
            self.fail(f"error chunk: {chunk['error']}")
            return
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                self._token(content)

    def _responses(self, event: str | None, data: list[str]) -> None:
        body: dict[str, Any] = json.loads("\n".join(data)) if data else {}
        kind = event or body.get("type")
        if kind == "response.output_text.delta":
            self._token(body["delta"])
        elif kind == "response.completed":
            self.end()
        elif kind in ("error", "response.failed"):
            self.fail(f"error event: {body}")

    # --- ending -----------------------------------------------------------------------
    def end(self) -> None:
        text = "".join(self.pieces)
        self.result.tokens = len(self.pieces)
        self.result.total = time.perf_counter() - self.result.started
        if self.target.check and text != self.target.expected:
            self.fail(
                f"answer differs from the upstream's ({len(text)} vs {len(self.target.expected)} chars)"
            )
            return
        self.result.ok = True
        self._close()

    def fail(self, error: str) -> None:
        if self.done.done():
            return
        self.result.ok = False
        self.result.error = error
        self.result.tokens = len(self.pieces)
        self._close()

    def _close(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


async def one_stream(target: Target, connect: asyncio.Semaphore, deadline_s: float) -> StreamResult:
    loop = asyncio.get_running_loop()
    result = StreamResult(ok=False, started=time.perf_counter())
    done: asyncio.Future[None] = loop.create_future()
    transport = None
    try:
        async with connect:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: _SSEClient(target, result, done), target.host, target.port),
                deadline_s,
            )
        remaining = max(0.1, deadline_s - (time.perf_counter() - result.started))
        await asyncio.wait_for(asyncio.shield(done), remaining)
    except (OSError, TimeoutError) as exc:
        result.ok = False
        result.error = result.error or f"{type(exc).__name__}: {exc}"
    finally:
        if transport is not None:
            transport.close()
    return result


async def burst(target: Target, n: int, deadline_s: float, spread: float = 0.0) -> list[StreamResult]:
    """N streams: all at once (spread 0; connects at most CONNECT_CONCURRENCY at a time), or
    started evenly over `spread` seconds, so that about N are open at once in steady state
    and each one's latency is that of a server carrying N streams, not of a queue of N."""
    connect = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def later(delay: float) -> StreamResult:
        await asyncio.sleep(delay)
        return await one_stream(target, connect, deadline_s)

    tasks = [asyncio.ensure_future(later(spread * i / n)) for i in range(n)]
    return list(await asyncio.gather(*tasks))


async def closed_loop(target: Target, concurrency: int, seconds: float, deadline_s: float) -> dict[str, Any]:
    """`concurrency` workers, each starting a new stream as soon as its last one ended."""
    connect = asyncio.Semaphore(CONNECT_CONCURRENCY)
    deadline = time.perf_counter() + seconds
    results: list[StreamResult] = []

    async def worker() -> None:
        while time.perf_counter() < deadline:
            results.append(await one_stream(target, connect, deadline_s))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    summary = summarize(results)
    tokens = sum(r.tokens for r in results if r.ok)
    summary.update(
        concurrency=concurrency,
        seconds=elapsed,
        tokens_per_second=tokens / elapsed,
        requests_per_second=sum(r.ok for r in results) / elapsed,
    )
    return summary


async def sweep_level(
    target: Target, concurrency: int, seconds: float, warm: float, deadline_s: float
) -> dict[str, Any]:
    """`concurrency` streams open at a time: workers start evenly over `warm` seconds (one
    answer's length, so the server is in steady state, not absorbing a burst), then each opens
    a new stream as soon as its last one ended. Only streams started after `warm` count."""
    connect = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.perf_counter()
    counted_from = started + warm
    deadline = counted_from + seconds
    results: list[StreamResult] = []

    async def worker(delay: float) -> None:
        await asyncio.sleep(delay)
        while time.perf_counter() < deadline:
            result = await one_stream(target, connect, deadline_s)
            if result.started >= counted_from:
                results.append(result)

    await asyncio.gather(*(worker(warm * i / concurrency) for i in range(concurrency)))
    summary = summarize(results)
    summary.update(concurrency=concurrency, seconds=seconds)
    return summary


async def open_loop(target: Target, rate: float, seconds: float, deadline_s: float) -> dict[str, Any]:
    """Streams started at a fixed rate (requests/s) for `seconds`, whether or not earlier ones
    have ended: the arrival pattern of many independent clients."""
    connect = asyncio.Semaphore(CONNECT_CONCURRENCY)
    n = max(1, round(rate * seconds))

    async def later(delay: float) -> StreamResult:
        await asyncio.sleep(delay)
        return await one_stream(target, connect, deadline_s)

    results = await asyncio.gather(*(later(i / rate) for i in range(n)))
    summary = summarize(list(results))
    summary.update(rate=rate, seconds=seconds)
    return summary


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summarize(results: list[StreamResult]) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    ttft = [r.ttft for r in ok if r.ttft is not None]
    total = [r.total for r in ok if r.total is not None]
    gaps = [g for r in ok for g in r.gaps]
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            key = r.error[:120]
            errors[key] = errors.get(key, 0) + 1

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 3)

    ends = [r.started + r.total for r in ok if r.total is not None]
    wall = (max(ends) - min(r.started for r in results)) if ends else None
    return {
        "streams": len(results),
        "wall_ms": ms(wall),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "ttft_ms": {"median": ms(statistics.median(ttft)) if ttft else None, "p99": ms(percentile(ttft, 99))},
        "total_ms": {
            "median": ms(statistics.median(total)) if total else None,
            "p99": ms(percentile(total, 99)),
        },
        "gap_ms": {"median": ms(statistics.median(gaps)) if gaps else None, "p99": ms(percentile(gaps, 99))},
        "tokens": sum(r.tokens for r in ok),
        # Decoding rate of each stream: tokens after the first over the time they took.
        "stream_tokens_per_second": [
            round(len(r.gaps) / sum(r.gaps), 2) for r in ok if r.gaps and sum(r.gaps)
        ]
        if len(results) <= 8
        else None,
        "ttft_each_ms": [ms(r.ttft) for r in ok] if len(results) <= 8 else None,
    }

"""Several processes: tokens/s with 1 and 2 workers, one process with and without Redis, and
what resuming on another instance adds to the first replayed event.

    PYTHONPATH=src python bench/several.py [--seconds 15] [--clients 32] [--rounds 30]
        [--redis redis://127.0.0.1:6379/0] [--json PATH]

`make bench` runs it (bench/run.py, `--only several`) and puts its numbers in RESULTS.md.

Every server is a real `llmrelay serve` (scripted provider, 200-word answers with no delay, so
llmrelay's own work is what is measured) on a free port, with a fresh SQLite file. The client
(this process: httpx, raw bytes counted, no SSE parsing) runs `--clients` streams at a time
through `/chat-stream` for `--seconds` and counts the deltas received. Nothing is pinned: the
2-worker run shares the machine's two cores with the client, as a user's box would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPLY = " ".join(f"word{i}" for i in range(200))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(*, workers: int = 1, redis: str | None, prefix: str, delay: float = 0.0) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRELAY_")}
    env.update(
        LLMRELAY_PROVIDER="scripted",
        LLMRELAY_SCRIPTED_REPLY=REPLY,
        LLMRELAY_SCRIPTED_DELAY_SECONDS=str(delay),
        LLMRELAY_LOG_LEVEL="WARNING",
        LLMRELAY_PORT=str(port),
        LLMRELAY_DATABASE_URL=f"sqlite:///{Path(tempfile.mkdtemp(prefix='llmrelay-bench-')) / 'db'}",
        LLMRELAY_DETACH_GRACE_SECONDS="30",
        LLMRELAY_REDIS_PREFIX=prefix,
    )
    if redis:
        env["LLMRELAY_REDIS_URL"] = redis
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "serve", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        time.sleep(1 if workers > 1 else 0)  # every worker up
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


async def throughput(url: str, seconds: float, clients: int) -> float:
    tokens = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one() -> None:
            nonlocal tokens
            while time.monotonic() < stop:
                try:
                    async with client.stream(
                        "GET", f"{url}/chat-stream", params={"message": "hi"}
                    ) as response:
                        async for chunk in response.aiter_bytes():
                            tokens += chunk.count(b"\ndata: ")
                    tokens -= 2  # start and end are not tokens
                except httpx.TransportError as exc:
                    print(f"  a stream failed: {exc!r}", flush=True)

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(clients)))
        return tokens / (time.monotonic() - started)


async def first_event_ms(client: httpx.AsyncClient, url: str, last_event_id: str) -> float:
    started = time.perf_counter()
    headers = {"Last-Event-ID": last_event_id}
    async with client.stream("GET", f"{url}/chat-stream", headers=headers) as response:
        async for _chunk in response.aiter_bytes():
            return (time.perf_counter() - started) * 1000
    raise RuntimeError("no event")


async def resume_latency(a: str, b: str, rounds: int) -> tuple[list[float], list[float]]:
    """Start a slow answer on A, read a few events; resume it on A and on B: time to first byte."""
    same: list[float] = []
    other: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for round_ in range(rounds + 1):
            last = ""
            async with client.stream("GET", f"{a}/chat-stream", params={"message": "hi"}) as response:
                async for line in response.aiter_lines():
                    if line.startswith("id: "):
                        last = line[4:]
                        if last.endswith(".5"):
                            break
            await asyncio.sleep(0.2)  # more events are in the log than the client saw
            # Each on a connection already open (as a browser's reconnect through a proxy).
            here, there = await first_event_ms(client, a, last), await first_event_ms(client, b, last)
            if round_:  # the first round opens the connections (client's and Redis pools)
                same.append(here)
                other.append(there)
    return same, other


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> dict[str, object]:
    prefix = f"llmrelay-bench-{secrets.token_hex(3)}:"
    print(f"{args.clients} streams at a time for {args.seconds:g}s each; 200-token answers")
    print("| server | tokens/s |")
    print("| --- | --- |")
    results = {}
    for name, workers, redis in (
        ("1 process, no Redis", 1, None),
        ("1 process, Redis", 1, args.redis),
        ("2 workers, Redis", 2, args.redis),
    ):
        with server(workers=workers, redis=redis, prefix=prefix) as url:
            await throughput(url, 2, args.clients)  # warm up
            results[name] = await throughput(url, args.seconds, args.clients)
        print(f"| {name} | {results[name]:,.0f} |", flush=True)
    base = results["1 process, no Redis"]
    print(f"\nRedis / no Redis: {results['1 process, Redis'] / base:.2f}x")
    print(
        f"2 workers / 1 (both with Redis): {results['2 workers, Redis'] / results['1 process, Redis']:.2f}x"
    )
    print(f"2 workers with Redis / 1 without: {results['2 workers, Redis'] / base:.2f}x")
    with (
        server(redis=args.redis, prefix=prefix, delay=0.05) as a,
        server(redis=args.redis, prefix=prefix, delay=0.05) as b,
    ):
        same, other = await resume_latency(a, b, args.rounds)
    p50 = statistics.median
    print(f"\nresume, time to the first replayed event ({args.rounds} rounds):")
    print(f"  same instance   p50 {p50(same):.2f} ms  max {max(same):.2f} ms")
    print(f"  other instance  p50 {p50(other):.2f} ms  max {max(other):.2f} ms")
    print(f"  added by another instance: p50 {p50(other) - p50(same):.2f} ms")
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "tokens_per_s": results,
        "resume_first_event_ms": {"same_instance": same, "other_instance": other},
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":
    given = arguments()
    numbers = asyncio.run(main(given))
    if given.json:
        Path(given.json).write_text(json.dumps(numbers, indent=1))

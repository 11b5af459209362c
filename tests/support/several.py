"""Several llmrelay processes sharing Redis and a database: two servers in this process, a real
`llmrelay serve` subprocess, reading part of a stream and cutting it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import connect_sse

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.environment import subprocess_env
from tests.support.redis import RedisSpace
from tests.support.servers import free_socket, serve
from tests.support.settings import make_settings
from tests.support.sse_client import Event

WORDS = [f"w{i}" for i in range(40)]
REPLY = " ".join(WORDS)


@dataclass
class Pair:
    a: str
    b: str
    provider_a: ScriptedProvider
    provider_b: ScriptedProvider
    database_url: str


@contextmanager
def two_servers(space: RedisSpace, database_url: str) -> Iterator[Pair]:
    """Two llmrelay servers in this process, each its own app and StreamRegistry, sharing
    `space`'s Redis and one database; a slow scripted model each (only A's gets asked)."""
    providers = [ScriptedProvider.replying(REPLY, delay_seconds=0.03) for _ in range(2)]

    def app(provider: ScriptedProvider):  # type: ignore[no-untyped-def]
        settings = make_settings(
            redis_url=space.url, redis_prefix=space.prefix, database_url=database_url, detach_grace_seconds=10
        )
        return create_app(settings, provider=provider)

    with serve(app(providers[0])) as a, serve(app(providers[1])) as b:
        yield Pair(a, b, providers[0], providers[1], database_url)


def read_some(
    url: str, limit: int | None, *, method: str = "GET", **kwargs: Any
) -> tuple[list[Event], httpx.Headers]:
    """The first `limit` events (all when None), then the connection is cut; and the headers."""
    events: list[Event] = []
    with httpx.Client(timeout=30) as client, connect_sse(client, method, url, **kwargs) as source:
        source.response.raise_for_status()
        for sse in source.iter_sse():
            events.append(Event(sse.event, sse.data, sse.id))
            if limit is not None and len(events) >= limit:
                break
        return events, source.response.headers


@dataclass
class KilledOwner:
    start: dict[str, Any]  # the /api/chat answer's start event: its ids
    rest: list[tuple[str, str]]  # what B's listener got after the kill: (event, data)
    took: float  # seconds from the kill to the end of B's stream


def kill_owner_while_b_follows(owner: subprocess.Popen[bytes], a: str, b: str) -> KilledOwner:
    """Start an /api/chat answer on A (the process `owner`), follow it live from B with the
    Last-Event-ID A gave, SIGKILL A, and read what B's listener gets until its stream ends."""
    first, _ = read_some(f"{a}/api/chat", 4, method="POST", json={"message": "hi"})
    start = json.loads(first[0].data)
    with httpx.Client(timeout=30) as client:
        url = f"{b}/api/messages/{start['message_id']}/events"
        with connect_sse(client, "GET", url, headers={"Last-Event-ID": first[-1].id}) as source:
            events = source.iter_sse()
            next(events)  # B follows A's answer live
            owner.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            rest = [(e.event, e.data) for e in events]
            return KilledOwner(start, rest, time.monotonic() - killed)


def seqs(events: list[Event]) -> list[int]:
    return [int(e.id.rpartition(".")[2]) for e in events]


def free_port() -> int:
    sock = free_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@contextmanager
def llmrelay_process(
    env: dict[str, str], *, args: tuple[str, ...] = ()
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`llmrelay serve` as a real process (its settings from `env`); yields it and its URL."""
    port = free_port()
    full_env = subprocess_env(**env, LLMRELAY_PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "serve", *args],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"llmrelay serve exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("llmrelay serve did not start in 60 s")
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def shared_env(space: RedisSpace, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "LLMRELAY_REDIS_URL": space.url,
        "LLMRELAY_REDIS_PREFIX": space.prefix,
        "LLMRELAY_DATABASE_URL": database_url,
        "LLMRELAY_LOG_LEVEL": "WARNING",
        **extra,
    }

"""Real Redis for tests.

- The shared one (127.0.0.1:6379, or LLMRELAY_TEST_REDIS): a unique key prefix per test, every
  key under it deleted afterwards, so tests and concurrent runs never meet. The `redis_space`
  fixture (tests/conftest.py) is made of `fresh_redis_space`.
- A private `redis-server` per test (`private_redis`, the `redis_server` fixture), for tests
  that kill Redis and start it again: the shared one must never die under other tests; and
  `SilentLink`, a hop in front of it that goes silent (a network gone, not a Redis gone).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.support.servers import free_socket
from tests.support.settings import skip_or_fail

REDIS_URL = os.environ.get("LLMRELAY_TEST_REDIS", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class RedisSpace:
    url: str
    prefix: str


async def delete_prefix(redis: Redis, prefix: str) -> None:
    async for key in redis.scan_iter(match=f"{prefix}*", count=500):
        await redis.delete(key)


@asynccontextmanager
async def fresh_redis_space() -> AsyncIterator[RedisSpace]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        skip_or_fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
    prefix = f"llmrelay-test-{secrets.token_hex(4)}:"
    try:
        yield RedisSpace(REDIS_URL, prefix)
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


@dataclass
class PrivateRedis:
    """A `redis-server` of one test's own, on a free port, with a password: it can be killed
    (SIGKILL, as a crash or an OOM kill would) and started again on the same port, empty."""

    port: int
    password: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--requirepass", self.password),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"redis-server on port {self.port} did not answer in 10 s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no goodbye to its clients, nothing saved."""
        assert self.process is not None, "not running"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Killed, then started again on the same port: empty, as a Redis without persistence."""
        if self.process is not None:
            self.kill()
        self.start()

    def _answers(self) -> bool:
        client = SyncRedis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
        try:
            return bool(client.ping())
        except (RedisError, OSError):
            return False
        finally:
            client.close()


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    """A fresh `redis-server` (PrivateRedis) for one test; killed after it."""
    if shutil.which("redis-server") is None:
        skip_or_fail("redis-server is not installed")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # redis-server binds it next; a port just freed is not handed out again at once
    server = PrivateRedis(port, f"pw-{secrets.token_hex(8)}")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.kill()


class SilentLink:
    """A TCP hop in front of a Redis (`url` through it) that can go silent, as a network that
    went away does: `silence()` drops every byte both ways (connections stay open, new ones are
    accepted and hear nothing), `restore()` resets what was open then and forwards again."""

    def __init__(self, redis: PrivateRedis) -> None:
        self.redis = redis
        self._listener = free_socket()
        self._listener.listen()
        self._listener.settimeout(0.1)
        self._silent = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]

    @property
    def url(self) -> str:
        port = self._listener.getsockname()[1]
        return f"redis://:{self.redis.password}@127.0.0.1:{port}/0"

    def silence(self) -> None:
        self._silent.set()

    def restore(self) -> None:
        with self._lock:
            stale, self._sockets = self._sockets, set()
        for sock in stale:
            _reset(sock)
        self._silent.clear()

    def __enter__(self) -> SilentLink:
        self._threads[0].start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closing.set()
        self._silent.clear()
        self.restore()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.redis.port))
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                self._threads.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if not self._silent.is_set():  # else lost on the way, as on a network gone
                    sink.sendall(chunk)
        except OSError:
            pass
        _reset(source)
        _reset(sink)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

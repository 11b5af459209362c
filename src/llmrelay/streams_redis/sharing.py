"""`RedisSharing`: the `streams.Sharing` of a process that shares generations through Redis.

What each process does (one Redis client; a pub/sub connection; one blocking XREAD per
generation followed here):
- every generation it starts writes a `RedisEventLog` (a Stream, plus a meta hash naming the
  owner process and the log's epoch, and an entry in the `running` hash);
- a heartbeat key with a short TTL, refreshed every `heartbeat_seconds`, says it is alive;
- it subscribes to its own control channel: `cancel`, `attach`, `detach` for generations it
  owns, sent by the processes where those requests land;
- `find` builds a `RemoteGeneration` for a generation another process owns; its listeners
  are counted in a hash per generation (process -> count), which the owner reads before its
  grace period stops an answer, so the answer stops only when nobody anywhere listens;
- its watchdog ends generations whose owner died (watchdog.py) — in servers only: `llmrelay
  ask` shares its answer (so no server takes it for an orphan) but recovers nobody's.

When Redis goes away (shared_redis.py): a heartbeat that fails stops every answer this process
runs (`STOPPED`: nobody elsewhere can follow, resume or cancel them any more), as does a log
write that fails; `find` raises `StoreUnavailable` (a 503); followers elsewhere end with
`LOST`. Nothing is cached across an outage: redis-py reconnects the client and the pub/sub
connection (which subscribes again), the heartbeat and watchdog go on ticking, so once Redis
answers again so does this process, without a restart. In the second or so before an owner's
channel is subscribed again, a cancel nobody heard is sent again (for 3 s); a registration
writes its owner's heartbeat with it, so a Redis that came back empty never shows a new
answer without its owner's heartbeat (which the watchdogs would take for a dead owner's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from llmrelay import shared_redis
from llmrelay.settings import Settings, SettingsError
from llmrelay.shared_redis import Outages, is_outage
from llmrelay.streams import EventLog, Failure, GenerationHandle, Identity
from llmrelay.streams_redis.codec import Keys
from llmrelay.streams_redis.log import DEFAULT_WINDOW_SECONDS, FollowedLog, RedisEventLog
from llmrelay.streams_redis.remote import Notice, RemoteGeneration
from llmrelay.streams_redis.watchdog import Watchdog

if TYPE_CHECKING:
    from llmrelay.store import Store
    from llmrelay.streams import StreamRegistry

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0
HEARTBEAT_TTL_SECONDS = 3.0
SWEEP_EVERY_TICKS = 60
STOP_SECONDS = 3.0
# A cancel nobody heard is sent again this often, this many times (sharing._cancel_again).
CANCEL_RESEND_SECONDS = 0.25
CANCEL_RESENDS = 12


def shown_url(url: str) -> str:
    """The Redis URL without its user and password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def new_process_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


async def connect(settings: Settings) -> Redis:
    """A client for LLMRELAY_REDIS_URL that answered a PING; else one SettingsError sentence."""
    assert settings.redis_url is not None
    url = settings.redis_url.get_secret_value()
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(
            "LLMRELAY_REDIS_URL is invalid: it must start with redis://, rediss:// or unix://."
        )
    redis = shared_redis.client(url)
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        await redis.aclose()
        reason = str(exc).rstrip(".")  # redis-py's words name the host, never the password
        raise SettingsError(f"LLMRELAY_REDIS_URL: cannot use Redis at {shown_url(url)}: {reason}.") from None
    return redis


class RedisSharing:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        retention_seconds: float,
        process_id: str | None = None,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        heartbeat_ttl_seconds: float = HEARTBEAT_TTL_SECONDS,
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.process_id = process_id or new_process_id()
        self.retention_seconds = retention_seconds
        self.window_seconds = window_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._heartbeat_ms = int(heartbeat_ttl_seconds * 1000)
        self._owned: set[RedisEventLog] = set()
        self._remote: dict[str, RemoteGeneration] = {}
        self._outbox: asyncio.Queue[tuple[str, Notice, str] | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._resends: set[asyncio.Task[None]] = set()
        self._registry: StreamRegistry | None = None
        self._watchdog: Watchdog | None = None
        # Whether Redis answers, said in the log when it changes (one line per outage); the
        # limiter shares it (runtime.py).
        self.outages = Outages()

    @classmethod
    async def open(cls, settings: Settings) -> RedisSharing:
        return cls(
            await connect(settings),
            prefix=settings.redis_prefix,
            retention_seconds=settings.stream_retention_seconds,
        )

    # -- streams.Sharing ------------------------------------------------------------------

    def new_log(
        self, generation_id: str, meta: dict[str, str], identity: Identity, lost: Callable[[Failure], object]
    ) -> EventLog:
        created = RedisEventLog(
            self.redis,
            self.keys,
            generation_id,
            epoch=secrets.token_hex(4),
            owner=self.process_id,
            meta=meta,
            identity=identity,
            retention_seconds=self.retention_seconds,
            window_seconds=self.window_seconds,
            lost=lost,
            outages=self.outages,
            heartbeat_ms=self._heartbeat_ms,
        )
        self._owned.add(created)
        return created

    def remote_listeners(self, generation_id: str) -> Callable[[], Awaitable[int]]:
        async def count() -> int:
            # Redis down: nobody elsewhere can be listening (their logs end too).
            with self.outages.tolerated(f"counting the listeners of generation {generation_id}"):
                return await self._count_listeners(generation_id)
            return 0

        return count

    async def _count_listeners(self, generation_id: str) -> int:
        raw = await self.redis.hgetall(self.keys.listeners(generation_id))
        counts = {_text(p): int(n) for p, n in raw.items() if int(n) > 0 and _text(p) != self.process_id}
        if not counts:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for process in counts:
            pipe.exists(self.keys.process(process))
        alive = await pipe.execute()
        # A process that died with listeners counted no longer holds anyone.
        return sum(n for (process, n), up in zip(counts.items(), alive, strict=True) if up)

    async def find(self, generation_id: str, epoch: str | None) -> GenerationHandle | None:
        """A generation another process owns; raises StoreUnavailable when Redis is down."""
        cached = self._remote.get(generation_id)
        if cached is not None and not (cached.finished and cached.listeners == 0):
            return cached if epoch is None or epoch == cached.log.epoch else None
        with self.outages.required("finding a generation"):
            raw = await self.redis.hgetall(self.keys.generation(generation_id))
        found = {_text(k): _text(v) for k, v in raw.items()}
        if "epoch" not in found or (epoch is not None and epoch != found["epoch"]):
            return None
        remote = RemoteGeneration(
            generation_id,
            found.get("owner", ""),
            json.loads(found.get("meta", "{}")),
            Identity(**json.loads(found.get("identity", "{}"))),
            FollowedLog(self.redis, self.keys, generation_id, found["epoch"], self.outages),
            self._notify,
        )
        self._remote[generation_id] = remote
        return remote

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, registry: StreamRegistry, store: Store | None, *, watch: bool = True) -> None:
        """Heartbeat, control channel and (`watch`) the watchdog. Returns once this process
        can be reached."""
        self._registry = registry
        if watch:
            self._watchdog = Watchdog(
                self.redis, self.keys, self.process_id, store, retention_seconds=self.retention_seconds
            )
        await self._beat()
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.keys.control(self.process_id))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._control(pubsub), name="redis-control"),
            loop.create_task(self._send(), name="redis-outbox"),
            loop.create_task(self._tick(), name="redis-heartbeat"),
        ]
        if self._watchdog is not None:
            await self._watchdog.sweep_store()
        log.info("sharing generations through Redis as process %s", self.process_id)

    async def aclose(self) -> None:
        """After the registry closed: let the last logs reach Redis, then stop."""
        # All at once: with Redis down, each may take its retries to give up.
        drains = [asyncio.ensure_future(owned.drained()) for owned in self._owned]
        if drains:
            await asyncio.wait(drains, timeout=5)
            for drain in drains:
                drain.cancel()
        # Asked to stop, not cancelled: redis-py may swallow a cancellation mid-command, and
        # a task that swallowed it would never end.
        self._stopping.set()
        self._outbox.put_nowait(None)
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
            for task in late:
                task.cancel()
        for task in self._resends:
            task.cancel()
        for remote in self._remote.values():
            remote.log.stop_following()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.keys.process(self.process_id))
        await self.redis.aclose()

    # -- inside ---------------------------------------------------------------------------

    def _notify(self, owner: str, notice: Notice, generation_id: str) -> None:
        self._outbox.put_nowait((owner, notice, generation_id))

    async def _send(self) -> None:
        """Notices to owners, in the order they were made (an attach before its detach)."""
        while (notice_of := await self._outbox.get()) is not None:
            owner, notice, generation_id = notice_of
            try:
                # Lost in an outage: the owner's answer is stopped by its own heartbeat then.
                with self.outages.tolerated(f"telling process {owner} to {notice} {generation_id}"):
                    if notice != "cancel":
                        key = self.keys.listeners(generation_id)
                        pipe = self.redis.pipeline(transaction=False)
                        pipe.hincrby(key, self.process_id, 1 if notice == "attach" else -1)
                        pipe.pexpire(key, int(max(self.retention_seconds, 600) * 1000))
                        await pipe.execute()
                    heard = await self.redis.publish(self.keys.control(owner), f"{notice} {generation_id}")
                    if notice == "cancel" and not heard:
                        self._cancel_again(owner, generation_id)
            except (RedisError, OSError) as exc:
                log.warning("cannot tell process %s to %s %s: %s", owner, notice, generation_id, exc)

    def _cancel_again(self, owner: str, generation_id: str) -> None:
        """A cancel nobody heard: the owner's control channel may be subscribing again (Redis
        just came back), so it is sent again for a while; a Stop must not wait for the answer's
        natural end. (Attach and detach need not: they are counted in Redis too.)"""

        async def resend() -> None:
            message = f"cancel {generation_id}"
            for _ in range(CANCEL_RESENDS):
                await asyncio.sleep(CANCEL_RESEND_SECONDS)
                with self.outages.tolerated(f"telling process {owner} to cancel {generation_id}"):
                    if await self.redis.publish(self.keys.control(owner), message):
                        return

        task = asyncio.get_running_loop().create_task(resend(), name=f"cancel-{generation_id}")
        self._resends.add(task)
        task.add_done_callback(self._resends.discard)

    async def _control(self, pubsub: PubSub) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    # One wait per process (not per listener); the timeout only lets it stop.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        self._obey(_text(message["data"]))
                except Exception as exc:  # this task never dies: cancels would stop arriving
                    self.outages.report("listening on the control channel", exc)
                    await asyncio.sleep(self._heartbeat_seconds)
                    # redis-py subscribes again by itself when it reconnects; this covers a
                    # subscription that never went through.
                    with contextlib.suppress(Exception):
                        await pubsub.subscribe(self.keys.control(self.process_id))
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _obey(self, message: str) -> None:
        notice, _, generation_id = message.partition(" ")
        generation = self._registry.get(generation_id) if self._registry else None
        if generation is None:
            return
        if notice == "cancel":
            if generation.cancel():
                log.info("generation %s: cancelled from another process", generation_id)
        elif notice == "attach":
            generation.remote_attached()
        elif notice == "detach":
            generation.remote_detached()

    async def _beat(self) -> None:
        await self.redis.set(self.keys.process(self.process_id), "1", px=self._heartbeat_ms)

    async def _tick(self) -> None:
        ticks = 0
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._heartbeat_seconds)
                return
            ticks += 1
            try:
                await self._beat()
            except Exception as exc:
                self._beat_failed(exc)
            else:
                self.outages.answered()
                await self._watch(ticks)
            self._forget()

    def _beat_failed(self, exc: Exception) -> None:
        """No heartbeat: other processes take this one for dead, and its answers' logs cannot be
        written. Its running answers stop now, each with an `error` its listeners here see."""
        self.outages.report("heartbeat", exc)
        for owned in list(self._owned):
            owned.lose()

    async def _watch(self, ticks: int) -> None:
        if self._watchdog is None:
            return
        try:
            await self._watchdog.tick()
            if ticks % SWEEP_EVERY_TICKS == 0:
                await self._watchdog.sweep_store()
        except Exception as exc:
            if is_outage(exc):
                self.outages.failed("watchdog", exc)
            else:
                log.exception("the Redis watchdog failed")

    def _forget(self) -> None:
        """Drop what is done: owned logs in Redis, followed logs nobody listens to."""
        self._owned = {owned for owned in self._owned if not owned.sent}
        for generation_id, remote in list(self._remote.items()):
            if remote.finished and remote.listeners == 0:
                del self._remote[generation_id]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

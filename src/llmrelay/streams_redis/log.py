"""Event logs in Redis Streams: the owner's (written in batches) and a follower's (read live).

The owner keeps its log in memory too (it is a `MemoryEventLog`): listeners in the owning
process read it with no round trip, and the copy in Redis is for every other process. Appends
are batched: the first event after a write starts a window of `window_seconds` (or the batch
fills to `batch_events`), then everything appended meanwhile goes out in one pipelined round
trip — never one round trip per token (bench/redis_batch.py measures the window).

A log that cannot be written (Redis went away) calls its `lost` callback once: its generation
stops with `shared_redis.STOPPED` (an answer no other process can resume, follow or cancel is
not one to go on with). The first write registers the generation; the generation sends nothing
before it went out (`opened`), so an answer Redis never knew of fails before it starts.

A follower (a process that does not own the generation) mirrors the Stream into memory with one
blocking XREAD at a time per generation and process, however many listen there; it wakes them
as entries arrive. A gap in the entry ids, a vanished Stream or a lost connection end the log
with `Failure` + `Finished`, so a listener never hangs and never sees two logs mixed; a Redis
that stops answering altogether fails the XREAD after the clients' socket timeout
(shared_redis.SOCKET_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from redis.asyncio import Redis

from llmrelay.providers.base import Finished
from llmrelay.shared_redis import STOPPED, Outages, describe, is_outage
from llmrelay.streams import Failure, Identity, LogEvent, MemoryEventLog
from llmrelay.streams_redis.codec import FIELD, Keys, decode_events, encode_events, entry_id, entry_seq

log = logging.getLogger(__name__)

# 5 ms: below what a person notices and a fraction of a token's time on any real model, yet
# enough to gather a fast upstream's tokens into one round trip (bench/notes.md).
DEFAULT_WINDOW_SECONDS = 0.005
DEFAULT_BATCH_EVENTS = 64
# A running log outlives its last write by this much at least, whatever the retention.
RUNNING_TTL_SECONDS = 600.0
# A finished log stays this long at least, so followers mid-read can finish reading it.
FINISHED_MIN_TTL_SECONDS = 10.0
FOLLOW_BLOCK_MS = 5000
FOLLOW_COUNT = 1000

LOST = Failure(
    "The shared log of this answer was lost (Redis restarted, was flushed, or cannot be reached).",
    503,
    "log_lost",
)


def _ttl_ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisEventLog(MemoryEventLog):
    """The log of a generation this process runs, copied to a Redis Stream in batches."""

    __slots__ = (
        "_batch_events",
        "_closing",
        "_heartbeat_ms",
        "_keys",
        "_kick",
        "_lost",
        "_on_lost",
        "_outages",
        "_redis",
        "_registration",
        "_retention",
        "_stream",
        "_timer",
        "_unsent",
        "_window",
        "_writer",
        "epoch",
        "generation_id",
        "registered",
        "writes",
    )

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        generation_id: str,
        *,
        epoch: str,
        owner: str,
        meta: Mapping[str, str],
        identity: Identity,
        retention_seconds: float,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        batch_events: int = DEFAULT_BATCH_EVENTS,
        lost: Callable[[Failure], object] | None = None,
        outages: Outages | None = None,
        heartbeat_ms: int | None = None,
    ) -> None:
        super().__init__()
        self.epoch = epoch
        self.generation_id = generation_id
        self.writes = 0  # round trips made: for the bench and the tests
        self._redis = redis
        self._keys = keys
        self._stream = keys.log(generation_id, epoch)
        self._retention = retention_seconds
        self._window = window_seconds
        self._batch_events = batch_events
        self._on_lost = lost
        self._lost = False
        self._heartbeat_ms = heartbeat_ms
        self._outages = outages or Outages()
        # Any: redis-py's mapping type is invariant in its keys.
        self._registration: dict[Any, Any] | None = {
            "owner": owner,
            "epoch": epoch,
            "meta": json.dumps(dict(meta), separators=(",", ":")),
            # Whose it is: only its owner (tenant) may attach, resume or cancel, on any process.
            "identity": json.dumps(dataclasses.asdict(identity), separators=(",", ":")),
            "state": "running",
            "started": f"{time.time():.3f}",
        }
        self._unsent: list[LogEvent] = []
        # Set once other processes can find the generation (its meta hash is written).
        self.registered = asyncio.Event()
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._kick = asyncio.Event()
        # The first write (registration) goes out at once: another process may be asked for
        # this generation as soon as its first event reaches the client.
        self._kick.set()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name=f"log-{generation_id}")

    def append(self, event: LogEvent) -> None:
        super().append(event)
        self._unsent.append(event)
        if len(self._unsent) >= self._batch_events:
            self._kick.set()
        elif self._timer is None and not self._kick.is_set():
            self._timer = asyncio.get_running_loop().call_later(self._window, self._kick.set)

    def close(self) -> None:
        super().close()  # listeners here see the end at once
        self._closing = True
        self._kick.set()

    async def opened(self) -> bool:
        await self.registered.wait()
        return not self._lost

    def lose(self, failure: Failure = STOPPED) -> None:
        """It can no longer be shared: its generation stops with `failure` (once; not once
        it has ended, when only other processes miss its last entries)."""
        if self._lost or self.closed:
            return
        self._lost = True
        if self._on_lost is not None:
            self._on_lost(failure)

    @property
    def sent(self) -> bool:
        """Everything is in Redis (or given up on): the writer is done."""
        return self._writer.done()

    async def drained(self) -> None:
        """Wait until everything appended is in Redis (or given up on)."""
        await asyncio.shield(self._writer)

    async def _write_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            first = len(self) - len(self._unsent) + 1
            batch, self._unsent = self._unsent, []
            last = self._closing
            try:
                await self._write(first, batch, last=last)
                self._outages.answered()
            except Exception as exc:  # the writer never dies: `registered` must be set
                if is_outage(exc):  # said once per outage, not per batch or generation
                    self._outages.failed(f"writing the log of generation {self.generation_id}", exc)
                elif not self._lost:
                    log.warning(
                        "generation %s: cannot write its log to Redis (%s: %s)",
                        self.generation_id,
                        type(exc).__name__,
                        exc,
                    )
                # Stopped before `registered` is set: a first event waiting on it never goes out.
                self.lose()
            self.registered.set()
            if last:
                return

    async def _write(self, first: int, batch: list[LogEvent], *, last: bool) -> None:
        keys = self._keys
        meta_key = keys.generation(self.generation_id)
        ttl = _ttl_ms(max(self._retention, FINISHED_MIN_TTL_SECONDS) if last else RUNNING_TTL_SECONDS)
        # The meta hash is how other processes find the generation: it goes when the retention
        # time is over, as the owner's own registry forgets it then, so an answer is held for
        # exactly as long on every process. The Stream may stay a little longer (followers
        # that found it in time finish reading it).
        found_ttl = _ttl_ms(self._retention) if last else ttl
        pipe = self._redis.pipeline(transaction=False)
        if self._registration is not None:
            owner = self._registration["owner"]
            if self._heartbeat_ms:
                # Its owner's heartbeat with it: in a Redis just restarted (empty), a running
                # entry written before the owner's next beat would look like a dead owner's.
                pipe.set(keys.process(owner), "1", px=self._heartbeat_ms)
            pipe.hset(meta_key, mapping=self._registration)
            pipe.hset(keys.running, self.generation_id, owner)
            self._registration = None
        if batch:
            pipe.xadd(self._stream, {FIELD: encode_events(batch)}, id=entry_id(first))
        if last:
            pipe.hset(meta_key, "state", "finished")
            pipe.hdel(keys.running, self.generation_id)
        pipe.pexpire(self._stream, ttl)
        pipe.pexpire(meta_key, found_ttl)
        pipe.pexpire(keys.listeners(self.generation_id), ttl)
        self.writes += 1
        await pipe.execute()


class FollowedLog(MemoryEventLog):
    """Another process's log, mirrored from its Redis Stream while someone here waits on it."""

    __slots__ = ("_outages", "_reader", "_redis", "_stream", "_waiting", "epoch", "generation_id", "lost")

    def __init__(
        self, redis: Redis, keys: Keys, generation_id: str, epoch: str, outages: Outages | None = None
    ) -> None:
        super().__init__()
        self.epoch = epoch
        self.generation_id = generation_id
        self._redis = redis
        self._outages = outages or Outages()
        self._stream = keys.log(generation_id, epoch)
        self._reader: asyncio.Task[None] | None = None
        self._waiting = 0
        # Ended by `_lose`: its last two events are LOST and Finished("error"), not the owner's.
        self.lost = False

    async def wait_beyond(self, length: int) -> None:
        if len(self) > length or self.closed:
            return
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(
                self._follow(), name=f"follow-{self._stream}"
            )
        self._waiting += 1
        try:
            await super().wait_beyond(length)
        finally:
            self._waiting -= 1

    def stop_following(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()

    async def _follow(self) -> None:
        try:
            while not self.closed:
                # Entries are named by their first event's seq: those after ours start after it.
                last = entry_id(len(self)) if len(self) else "0-0"
                reply: Any = await self._redis.xread(
                    {self._stream: last}, count=FOLLOW_COUNT, block=FOLLOW_BLOCK_MS
                )
                if not reply:
                    if not await self._redis.exists(self._stream):
                        self._lose("its Stream is gone")
                    elif self._waiting == 0:
                        return  # the next wait starts a reader again
                    continue
                for _stream, entries in reply:
                    for raw_id, fields in entries:
                        if entry_seq(raw_id) != len(self) + 1:
                            self._lose(f"entry {raw_id!r} after {len(self)}")
                            return
                        for event in decode_events(fields[FIELD.encode()]):
                            self.append(event)
                            if isinstance(event, Finished):
                                self.close()
                                return
                if self._waiting == 0:
                    return  # nobody here waits any more: stop reading a log no one follows
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # whatever it was, the listeners here get an end
            if is_outage(exc):
                self._outages.failed(f"following generation {self.generation_id}", exc)
                self._lose(describe(exc), quiet=True)
            else:
                self._lose(f"{type(exc).__name__}: {exc}")

    def _lose(self, why: str, *, quiet: bool = False) -> None:
        # `quiet`: an outage, which Outages reported once for every generation it ended.
        (log.info if quiet else log.warning)(
            "generation %s: following its log failed (%s)", self.generation_id, why
        )
        self.lost = True
        self.append(LOST)
        self.append(Finished("error"))
        self.close()

"""Generations whose owner died: found by any other process, ended for every listener.

Each process keeps a heartbeat key with a short TTL (sharing.py). Every tick, the watchdog of
every process reads which generations run where; a generation whose owner's heartbeat is gone
is claimed by exactly one process (SET NX), which stores the answer as `interrupted` with the
text its listeners saw, then appends `Failure` + `Finished` to its log: every listener, on any
process, gets `error` then `end` instead of hanging. The store first, so a client that saw
`end` reads the stored answer (the same order a live generation keeps).

Answers left `streaming` in the store with no generation in Redis at all (Redis flushed, or
every process died at once) are marked `interrupted` by the sweep, once they are old enough
not to be an answer whose generation is just being registered.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from llmrelay.answer import AnswerParts
from llmrelay.providers.base import Finished
from llmrelay.store import Store
from llmrelay.store.records import utcnow
from llmrelay.streams import Failure, LogEvent
from llmrelay.streams_redis.codec import FIELD, Keys, decode_events, encode_events, entry_id

log = logging.getLogger(__name__)

INTERRUPTED = Failure("The server running this answer stopped before it was finished.", 503, "interrupted")
CLAIM_MS = 60_000
# A `streaming` row younger than this may belong to a generation being registered right now.
SWEEP_MIN_AGE = timedelta(seconds=30)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Watchdog:
    def __init__(
        self, redis: Redis, keys: Keys, process_id: str, store: Store | None, *, retention_seconds: float
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._me = process_id
        self._store = store
        self._retention_ms = max(10_000, int(retention_seconds * 1000))

    async def tick(self) -> int:
        """End every generation whose owner is dead; returns how many this process ended."""
        running = {_text(g): _text(o) for g, o in (await self._redis.hgetall(self._keys.running)).items()}
        others = {g: o for g, o in running.items() if o != self._me}
        if not others:
            return 0
        owners = sorted(set(others.values()))
        pipe = self._redis.pipeline(transaction=False)
        for owner in owners:
            pipe.exists(self._keys.process(owner))
        alive = dict(zip(owners, await pipe.execute(), strict=True))
        ended = 0
        for generation_id, owner in others.items():
            if not alive[owner] and await self._end_orphan(generation_id, owner):
                ended += 1
        return ended

    async def _end_orphan(self, generation_id: str, owner: str) -> bool:
        keys = self._keys
        if not await self._redis.set(keys.claim(generation_id), self._me, nx=True, px=CLAIM_MS):
            return False  # another process is ending it
        meta = {
            _text(k): _text(v) for k, v in (await self._redis.hgetall(keys.generation(generation_id))).items()
        }
        epoch = meta.get("epoch")
        events: list[LogEvent] = []
        if epoch:
            entries: Any = await self._redis.xrange(keys.log(generation_id, epoch))
            events = [e for _id, fields in entries for e in decode_events(fields[FIELD.encode()])]
        if events and isinstance(events[-1], Finished):
            await self._redis.hdel(keys.running, generation_id)  # it ended; only the cleanup was lost
            return False
        parts = AnswerParts()
        for event in events:
            parts.add(event)
        # What the person read of it (as conversations store it: its text, then a refusal).
        text = parts.text + parts.refusal
        if self._store is not None:
            await self._store.interrupt_answer(generation_id, text)
        pipe = self._redis.pipeline(transaction=False)
        if epoch:
            stream = keys.log(generation_id, epoch)
            ending = encode_events([INTERRUPTED, Finished("error")])
            pipe.xadd(stream, {FIELD: ending}, id=entry_id(len(events) + 1))
            pipe.pexpire(stream, self._retention_ms)
            pipe.hset(keys.generation(generation_id), "state", "interrupted")
            pipe.pexpire(keys.generation(generation_id), self._retention_ms)
        pipe.hdel(keys.running, generation_id)
        await pipe.execute()
        log.warning(
            "generation %s: its owner %s stopped answering; marked interrupted after %d events",
            generation_id,
            owner,
            len(events),
        )
        return True

    async def sweep_store(self) -> int:
        """Answers `streaming` in the store that no process runs: `interrupted`."""
        if self._store is None:
            return 0
        ids = await self._store.streaming_answer_ids(created_before=utcnow() - SWEEP_MIN_AGE)
        if not ids:
            return 0
        owners = await self._redis.hmget(self._keys.running, ids)
        orphans = [i for i, owner in zip(ids, owners, strict=True) if owner is None]
        count = await self._store.mark_interrupted(orphans)
        if count:
            log.warning("marked %d answer(s) no process was running as interrupted", count)
        return count

"""Answers at once per tenant (the `max_streams` limit): counted here, or across processes in Redis.

`LocalSlots` counts in this process. `RedisSlots` (with LLMRELAY_REDIS_URL) counts in one
sorted set per tenant that every process shares: a member per running answer, scored by when
its lease runs out. Taking a slot is one Lua script (drop expired members, count, add), so two
processes can never both take the last one; ending the answer removes its member at once.

Why leases and not a counter (INCR on take, DECR on release): a process killed with SIGKILL
never releases, and a counter would keep its slots taken forever. Each process renews the
leases of the answers it runs every `renew_seconds`; a dead process's members expire after
`lease_seconds` and the next take drops them. The clock is Redis's (`TIME` in the scripts), so
hosts whose clocks disagree still agree on leases.

With Redis down, `take` raises `StoreUnavailable` (a 503: the limit cannot be checked, and
limits fail closed, README "Running several processes"); a release or renewal that fails is
logged once per outage and left to the lease, which runs out by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from llmrelay import shared_redis
from llmrelay.shared_redis import Outages
from llmrelay.store.records import Owner

log = logging.getLogger(__name__)

# A killed process's answers stop counting this long after its last renewal at most.
LEASE_SECONDS = 10.0
RENEW_SECONDS = 2.5


class StreamSlots(Protocol):
    async def take(self, owner: Owner, limit: int) -> object | None:
        """A slot for one more answer of `owner`, or None when `limit` are running."""
        ...

    async def release(self, slot: object) -> None:
        """The answer ended: its slot is free. Once per slot taken."""
        ...

    async def aclose(self) -> None: ...


class LocalSlots:
    """This process's answers, counted in a dict."""

    def __init__(self) -> None:
        self._running: dict[Owner, int] = {}

    async def take(self, owner: Owner, limit: int) -> object | None:
        if self._running.get(owner, 0) >= limit:
            return None
        self._running[owner] = self._running.get(owner, 0) + 1
        return owner

    async def release(self, slot: object) -> None:
        owner = Owner(str(slot))
        left = self._running.get(owner, 1) - 1
        if left > 0:
            self._running[owner] = left
        else:
            self._running.pop(owner, None)

    async def aclose(self) -> None:
        pass


# KEYS[1] the tenant's set; ARGV: limit, lease (ms), member. 1 taken, 0 full.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: each lease's set; ARGV: lease (ms), then each lease's member. XX: a member released
# meanwhile (or expired) is not brought back.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease)
end
return #KEYS
"""


@dataclass(frozen=True, slots=True)
class _Lease:
    key: str
    member: str


class RedisSlots:
    """Slots in Redis, shared by every process using it; leases renewed while answers run."""

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
        outages: Outages | None = None,
    ) -> None:
        self._redis = redis
        self._outages = outages or Outages()
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._renew_seconds = renew_seconds
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._held: set[_Lease] = set()
        self._renewer: asyncio.Task[None] | None = None

    @classmethod
    def from_url(cls, url: str, prefix: str, outages: Outages | None = None) -> RedisSlots:
        return cls(shared_redis.client(url), prefix, outages=outages)

    def key(self, owner: Owner) -> str:
        return f"{self._prefix}streams:{owner}"

    async def take(self, owner: Owner, limit: int) -> object | None:
        lease = _Lease(self.key(owner), secrets.token_hex(8))
        with self._outages.required("counting answers at once"):
            taken = await self._take(keys=[lease.key], args=[limit, self._lease_ms, lease.member])
        if not taken:
            return None
        self._held.add(lease)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop(), name="slot-leases")
        return lease

    async def release(self, slot: object) -> None:
        assert isinstance(slot, _Lease)
        self._held.discard(slot)
        try:
            # Not fatal: the lease runs out by itself.
            with self._outages.tolerated("freeing an answer's slot"):
                await self._redis.zrem(slot.key, slot.member)
        except (RedisError, OSError) as exc:
            log.warning(
                "cannot free an answer's slot in Redis (%s); it expires in %d ms", exc, self._lease_ms
            )

    async def _renew_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self._renew_seconds)
            held = list(self._held)
            if not held:
                return
            try:  # one round trip for every answer this process runs
                with self._outages.tolerated("renewing the slots of running answers"):
                    await self._renew(
                        keys=[lease.key for lease in held],
                        args=[self._lease_ms, *(lease.member for lease in held)],
                    )
            except Exception as exc:  # never dies while answers hold slots
                log.warning("cannot renew the slots of running answers in Redis: %s", exc)

    async def aclose(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
        await self._redis.aclose()

"""Limits per key: requests and tokens per minute, answers at once, and a token budget.

One interface (`Limiter`), so where the counters live can change: `InProcessLimiter` keeps
them in this process (the `limits` library's moving and fixed windows, in memory, and answers
at once in `stream_slots.LocalSlots`), or, with LLMRELAY_REDIS_URL, in the Redis every process
shares (the library's Redis storage, and `stream_slots.RedisSlots`), behind the same two calls:

- `admit(tenant, …)` before an answer starts: raises `LimitExceeded` (which limit, when it
  resets) or returns a `Permit`. Tokens per minute are reserved there from an estimate (the
  prompt's tokens, plus `max_tokens` when the client set one).
- `Permit.charge(n)` as output arrives (False once the budget is spent: the answer is stopped),
  and `Permit.settle(input, output)` once at its end, with the real counts: the estimate is
  replaced by them, the answer's slot is freed.

A budget counts input + output tokens, in total or per calendar month (UTC). What was spent is
read from the usage table when a tenant is first seen and again every `refresh_seconds` (the
CLI or another process may have spent some), plus what this process charged since.

Counters in Redis fail closed: with Redis down, `admit` raises `shared_redis.StoreUnavailable`
(a 503) for a tenant with a rate limit or `max_streams`, rather than let them go uncounted
(README, "Running several processes", says why); settling what an answer cost is lost then
(logged once per outage): the counters run out with their window.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from llmrelay import shared_redis
from llmrelay.shared_redis import Outages
from llmrelay.store.records import KeyLimits, Owner
from llmrelay.stream_slots import LocalSlots, RedisSlots, StreamSlots

LimitName = Literal["rpm", "tpm", "max_streams", "budget"]


@dataclass(frozen=True, slots=True)
class Tenant:
    """Whom limits apply to: the owner, how to name them in a message, their own limits."""

    owner: Owner
    label: str  # "key 'ci' (sk-llmrelay-ab12…)": never the key itself
    limits: KeyLimits = field(default_factory=KeyLimits)


class LimitExceeded(Exception):
    """Over a limit: `message` says which and when it resets; `retry_after` in whole seconds
    (None: waiting will not help, e.g. a total budget that is spent)."""

    def __init__(self, limit: LimitName, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message
        self.retry_after = retry_after


class Permit(Protocol):
    @property
    def has_budget(self) -> bool:
        """Whether output must be charged as it comes (a budget applies)."""
        ...

    async def charge(self, tokens: int) -> bool:
        """Count output tokens as they come; False once the budget is spent."""
        ...

    async def settle(self, input_tokens: int, output_tokens: int) -> None:
        """The answer ended and cost this: settle the reservation, free its slot. Once."""
        ...


class Limiter(Protocol):
    async def aclose(self) -> None: ...

    def effective(self, tenant: Tenant) -> KeyLimits:
        """The tenant's own limits, the defaults where it has none."""
        ...

    async def admit(
        self, tenant: Tenant, *, prompt_tokens: Callable[[], int], max_output_tokens: int | None
    ) -> Permit:
        """Let an answer start, or raise LimitExceeded. `prompt_tokens` is called only when a
        token limit or budget applies (counting a long prompt is not free)."""
        ...


SpentReader = Callable[[Owner, datetime | None], Awaitable[int]]


def month_start(now: datetime) -> datetime:
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def next_month_start(now: datetime) -> datetime:
    return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)


@dataclass
class _Budget:
    since: datetime | None  # the period's start (None: all time)
    spent: int  # read from the store, plus charged here since
    read_at: float


class InProcessLimiter:
    """Rate counters in `storage` and answers at once in `slots` (this process's memory unless
    given shared ones); the budget's running sum in this process (it is re-read from the
    shared usage table). `window_seconds` is a minute, except in tests."""

    def __init__(
        self,
        defaults: KeyLimits,
        *,
        spent_reader: SpentReader | None = None,
        window_seconds: int = 60,
        refresh_seconds: float = 60.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        storage: Storage | None = None,
        slots: StreamSlots | None = None,
        outages: Outages | None = None,
    ) -> None:
        self.defaults = defaults
        # Whether a shared storage's Redis answers (a memory storage never fails).
        self._outages = outages or Outages()
        self.window_seconds = window_seconds
        self._read_spent = spent_reader
        self._refresh = refresh_seconds
        self._now = now
        # The `limits` library's counters: this process's memory, or (several processes, with
        # LLMRELAY_REDIS_URL) a Redis all of them share, so a key's rpm and tpm hold across all.
        storage = storage or MemoryStorage()
        self._requests = MovingWindowRateLimiter(storage)
        self._tokens = FixedWindowRateLimiter(storage)
        self._storage = storage
        self._slots = slots or LocalSlots()
        self._budgets: dict[Owner, _Budget] = {}
        self._budget_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close a shared storage's Redis connections (the library keeps no close of its own:
        its redis-py client is its bridge's `storage`)."""
        await self._slots.aclose()
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    def effective(self, tenant: Tenant) -> KeyLimits:
        own, default = tenant.limits, self.defaults
        has_budget = own.budget_tokens is not None
        return KeyLimits(
            rpm=own.rpm if own.rpm is not None else default.rpm,
            tpm=own.tpm if own.tpm is not None else default.tpm,
            max_streams=own.max_streams if own.max_streams is not None else default.max_streams,
            budget_tokens=own.budget_tokens if has_budget else default.budget_tokens,
            budget_period=own.budget_period if has_budget else default.budget_period,
        )

    def _item(self, amount: int, kind: str) -> RateLimitItem:
        return RateLimitItemPerSecond(amount, self.window_seconds, namespace=f"llmrelay-{kind}")

    def _per(self) -> str:
        return "minute" if self.window_seconds == 60 else f"{self.window_seconds} s"

    async def admit(
        self, tenant: Tenant, *, prompt_tokens: Callable[[], int], max_output_tokens: int | None
    ) -> Permit:
        limits = self.effective(tenant)
        slot: object | None = None
        if limits.max_streams is not None:
            slot = await self._slots.take(tenant.owner, limits.max_streams)
            if slot is None:
                raise LimitExceeded(
                    "max_streams",
                    f"Too many answers at once for {tenant.label}: its limit is {limits.max_streams} "
                    "(max streams). Retry when one of them has ended.",
                    1,
                )
        try:
            with self._outages.required("checking rate limits"):
                return await self._admit(tenant, limits, slot, prompt_tokens, max_output_tokens)
        except BaseException:
            if slot is not None:  # refused by another limit (or the client left): not running
                await self._slots.release(slot)
            raise

    async def _admit(
        self,
        tenant: Tenant,
        limits: KeyLimits,
        slot: object | None,
        prompt_tokens: Callable[[], int],
        max_output_tokens: int | None,
    ) -> Permit:
        owner = tenant.owner
        budget = await self._budget(owner, limits) if limits.budget_tokens is not None else None
        if budget is not None and limits.budget_tokens is not None and budget.spent >= limits.budget_tokens:
            raise self._spent(tenant, limits)
        if limits.rpm is not None:
            item = self._item(limits.rpm, "rpm")
            if not await self._requests.hit(item, owner):
                reset = (await self._requests.get_window_stats(item, owner)).reset_time
                raise self._rate(tenant, "rpm", f"{limits.rpm} requests per {self._per()}", reset)
        estimate = 0
        if limits.tpm is not None or budget is not None:
            estimate = prompt_tokens()
        reserved = 0
        if limits.tpm is not None:
            reserved = estimate + (max_output_tokens or 0)
            item = self._item(limits.tpm, "tpm")
            if reserved > limits.tpm:
                raise LimitExceeded(
                    "tpm",
                    f"This request needs about {reserved} tokens, more than the {limits.tpm} tokens "
                    f"per {self._per()} allowed for {tenant.label} (tokens per minute); "
                    "send a shorter prompt or a smaller max_tokens.",
                    None,
                )
            if not await self._tokens.hit(item, owner, cost=reserved):
                await self._storage.incr(item.key_for(owner), item.get_expiry(), -reserved)
                reset = (await self._tokens.get_window_stats(item, owner)).reset_time
                raise self._rate(tenant, "tpm", f"{limits.tpm} tokens per {self._per()}", reset)
        if budget is not None:
            budget.spent += estimate  # the prompt is spent as soon as the answer starts
        return _InProcessPermit(self, tenant, limits, budget, slot, reserved=reserved, charged=estimate)

    async def _budget(self, owner: Owner, limits: KeyLimits) -> _Budget:
        now = self._now()
        since = month_start(now) if limits.budget_period == "month" else None
        async with self._budget_lock:
            known = self._budgets.get(owner)
            stale = known is None or known.since != since or time.monotonic() - known.read_at >= self._refresh
            if stale:
                spent = await self._read_spent(owner, since) if self._read_spent else 0
                if known is not None and known.since == since:
                    # Keep what this process charged that the store may not have yet.
                    spent = max(spent, known.spent)
                known = _Budget(since=since, spent=spent, read_at=time.monotonic())
                self._budgets[owner] = known
            assert known is not None
            return known

    def _spent(self, tenant: Tenant, limits: KeyLimits) -> LimitExceeded:
        if limits.budget_period == "month":
            resets = next_month_start(self._now())
            wait = max(1, math.ceil((resets - self._now()).total_seconds()))
            return LimitExceeded(
                "budget",
                f"The token budget of {tenant.label} is spent: {limits.budget_tokens} tokens per "
                f"calendar month. It resets on {resets:%Y-%m-%d} 00:00 UTC.",
                wait,
            )
        return LimitExceeded(
            "budget",
            f"The token budget of {tenant.label} is spent: {limits.budget_tokens} tokens in total. "
            "It does not reset; an admin can raise it (llmrelay keys limits NAME --budget-tokens N).",
            None,
        )

    def _rate(self, tenant: Tenant, limit: LimitName, what: str, reset_time: float) -> LimitExceeded:
        wait = max(1, math.ceil(reset_time - time.time()))
        name = "requests per minute" if limit == "rpm" else "tokens per minute"
        return LimitExceeded(
            limit,
            f"Rate limit reached for {tenant.label}: {what} ({name}). It resets in {wait} s.",
            wait,
        )


@dataclass(eq=False)
class _InProcessPermit:
    limiter: InProcessLimiter
    tenant: Tenant
    limits: KeyLimits
    budget: _Budget | None
    slot: object | None  # from the limiter's StreamSlots; None: no max_streams applies
    reserved: int
    charged: int
    settled: bool = False

    @property
    def has_budget(self) -> bool:
        return self.budget is not None

    async def charge(self, tokens: int) -> bool:
        if self.budget is None or self.limits.budget_tokens is None:
            return True
        self.budget.spent += tokens
        self.charged += tokens
        return self.budget.spent < self.limits.budget_tokens

    async def settle(self, input_tokens: int, output_tokens: int) -> None:
        if self.settled:
            return
        self.settled = True
        limiter, owner = self.limiter, self.tenant.owner
        if self.slot is not None:
            await limiter._slots.release(self.slot)
        used = input_tokens + output_tokens
        if self.budget is not None:
            self.budget.spent += used - self.charged
        if self.limits.tpm is not None and used != self.reserved:
            item = limiter._item(self.limits.tpm, "tpm")
            # Lost with Redis down: the reservation stands until its window ends.
            with limiter._outages.tolerated("settling tokens per minute"):
                await limiter._storage.incr(item.key_for(owner), item.get_expiry(), used - self.reserved)


def shared_storage(redis_url: str, prefix: str) -> Storage:
    """The rate counters in Redis, shared by every llmrelay process that uses it."""
    from limits.aio.storage import RedisStorage

    # The library hands these on to its redis-py client: the same bounded waits as llmrelay's own.
    options: dict[str, Any] = shared_redis.client_options()
    return RedisStorage(
        f"async+{redis_url}", implementation="redispy", key_prefix=f"{prefix}limits", **options
    )


def limiter_for(
    redis_url: str | None,
    prefix: str,
    defaults: KeyLimits,
    *,
    spent_reader: SpentReader | None = None,
    window_seconds: int = 60,
    outages: Outages | None = None,
) -> InProcessLimiter:
    """The limiter of a process: with `redis_url`, every counter that can be shared is in that
    Redis (rates per minute, answers at once), so a key's limits hold across all processes.
    `outages`: the process's record of whether Redis answers (RedisSharing's), if it has one."""
    if redis_url is None:
        return InProcessLimiter(defaults, spent_reader=spent_reader, window_seconds=window_seconds)
    outages = outages or Outages()
    return InProcessLimiter(
        defaults,
        spent_reader=spent_reader,
        window_seconds=window_seconds,
        storage=shared_storage(redis_url, prefix),
        slots=RedisSlots.from_url(redis_url, prefix, outages),
        outages=outages,
    )

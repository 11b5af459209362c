"""stream_slots.py: answers at once per tenant, in this process and in a Redis several share.

Two `RedisSlots` on their own Redis clients stand for two processes; "killed" is one that stops
renewing without releasing (what SIGKILL leaves behind)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from llmrelay.store.records import Owner
from llmrelay.stream_slots import LocalSlots, RedisSlots
from tests.support.redis import RedisSpace

TENANT = Owner("key_a")
OTHER = Owner("key_b")


async def test_local_slots_count_per_tenant_and_free_on_release() -> None:
    slots = LocalSlots()
    first = await slots.take(TENANT, 2)
    assert first is not None and await slots.take(TENANT, 2) is not None
    assert await slots.take(TENANT, 2) is None
    assert await slots.take(OTHER, 2) is not None  # another tenant's count is its own
    await slots.release(first)
    assert await slots.take(TENANT, 2) is not None


async def test_redis_slots_are_one_count_across_processes(redis_space: RedisSpace) -> None:
    a = RedisSlots.from_url(redis_space.url, redis_space.prefix)
    b = RedisSlots.from_url(redis_space.url, redis_space.prefix)
    try:
        held = await a.take(TENANT, 1)
        assert held is not None
        assert await b.take(TENANT, 1) is None  # A holds the tenant's one slot
        assert await b.take(OTHER, 1) is not None
        await a.release(held)
        assert await b.take(TENANT, 1) is not None
    finally:
        await a.aclose()
        await b.aclose()


async def test_two_processes_racing_for_the_last_slot_get_it_once(redis_space: RedisSpace) -> None:
    processes = [RedisSlots.from_url(redis_space.url, redis_space.prefix) for _ in range(4)]
    try:
        taken = await asyncio.gather(*(p.take(TENANT, 3) for p in processes for _ in range(5)))
        assert sum(slot is not None for slot in taken) == 3
    finally:
        for process in processes:
            await process.aclose()


async def test_a_running_answer_keeps_its_slot_and_a_killed_process_loses_it(redis_space: RedisSpace) -> None:
    def short_leases() -> RedisSlots:
        return RedisSlots(
            Redis.from_url(redis_space.url), redis_space.prefix, lease_seconds=0.4, renew_seconds=0.1
        )

    alive, dying = short_leases(), short_leases()
    b = RedisSlots.from_url(redis_space.url, redis_space.prefix)
    try:
        assert await alive.take(TENANT, 1) is not None
        await asyncio.sleep(1.0)  # well past one lease: renewed meanwhile
        assert await b.take(TENANT, 1) is None

        assert await dying.take(OTHER, 1) is not None
        assert dying._renewer is not None
        dying._renewer.cancel()  # killed: no renewal and no release from here on
        assert await b.take(OTHER, 1) is None
        await asyncio.sleep(0.6)
        assert await b.take(OTHER, 1) is not None  # its lease ran out
    finally:
        await alive.aclose()
        await dying.aclose()
        await b.aclose()

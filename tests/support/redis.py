"""Real Redis for tests (127.0.0.1:6379, or LLMRELAY_TEST_REDIS): a unique key prefix per
test, every key under it deleted afterwards, so tests and concurrent runs never meet. The
`redis_space` fixture (tests/conftest.py) is made of `fresh_redis_space`."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

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

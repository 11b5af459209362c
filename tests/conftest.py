"""Fixtures every kind of test may use: a clean environment, fresh databases, the OpenAI stand-in.

The helpers these are made of live in tests/support/; fixtures of one kind of test live in the
conftest.py of its folder (tests/README.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.databases import fresh_postgres_database
from tests.support.environment import scrub
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAI
from tests.support.redis import PrivateRedis, RedisSpace, delete_prefix, fresh_redis_space, private_redis
from tests.support.redis_mode import REDIS_MODE_PREFIX, REDIS_MODE_URL
from tests.support.servers import serve

# -- The environment ------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _scrub_environment_for_the_session() -> Iterator[None]:
    """Session- and module-scoped fixtures are built before any per-test fixture: they too
    must see no LLMRELAY_* / OPENAI_* / ANTHROPIC_* variable of the developer's shell."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        scrub(monkeypatch)
        yield


@pytest.fixture(autouse=True)
def scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no LLMRELAY_* / OPENAI_* / ANTHROPIC_* variable, whatever the
    shell or an earlier test set; a test that needs one sets it with `monkeypatch.setenv`."""
    scrub(monkeypatch)


# -- Databases ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database for this test: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'llmrelay.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
async def _redis_mode() -> AsyncIterator[None]:
    """In the suite's Redis mode (LLMRELAY_TEST_REDIS_URL, tests/support/redis_mode.py): that
    Redis must answer before any test runs, and what the run wrote there is deleted after it."""
    if REDIS_MODE_URL is None:
        yield
        return
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_MODE_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.exit(f"LLMRELAY_TEST_REDIS_URL: Redis at {REDIS_MODE_URL} does not answer ({exc})", 2)
    try:
        yield
    finally:
        await delete_prefix(client, REDIS_MODE_PREFIX)
        await client.aclose()


@pytest.fixture
async def redis_space() -> AsyncIterator[RedisSpace]:
    """The Redis at 127.0.0.1:6379 under a key prefix of this test's own, emptied after it."""
    async with fresh_redis_space() as space:
        yield space


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    """A `redis-server` of this test's own (password-protected, on a free port), to kill with
    SIGKILL and start again (`.kill()`, `.start()`, `.restart()`); the shared one never dies."""
    with private_redis() as server:
        yield server


# -- The OpenAI stand-in --------------------------------------------------------------------
# One stand-in server for the whole session (tests.support.fake_openai), and one way to use it:
# a test takes `fake` (and `fake_url` for its address). Before each test that takes `fake`, the
# stand-in is back to its default script (Script(): three deltas, no error) and its records of
# requests and streams are empty, so a test sees only what it caused. Module-scoped fixtures
# that need the address (an llmrelay in front of it) take `fake_upstream`.


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    """The one stand-in server of the session: (the fake, its base URL without /v1)."""
    fake = FakeOpenAI()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture(scope="session")
def anthropic_upstream() -> Iterator[tuple[FakeAnthropic, str]]:
    """The stand-in Anthropic server of the session (tests/support/fake_anthropic.py): (the
    fake, its base URL); the anthropic tests' own `fake` fixture resets it."""
    fake = FakeAnthropic()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def fake(fake_upstream: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    """The stand-in, reset: default script, no requests or streams recorded."""
    return fake_upstream[0].reset()


@pytest.fixture
def fake_url(fake: FakeOpenAI, fake_upstream: tuple[FakeOpenAI, str]) -> str:
    """The stand-in's base URL (without /v1); taking it resets the stand-in too."""
    return fake_upstream[1]

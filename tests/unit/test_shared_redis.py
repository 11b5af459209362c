"""llmrelay.shared_redis: what counts as Redis being gone, what a request gets then, what the log
says, and the clients' bounded waits (against a port nothing listens on: a Redis that is gone)."""

from __future__ import annotations

import logging
import time

import pytest
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    DataError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from llmrelay import shared_redis
from llmrelay.shared_redis import MESSAGE, Outages, StoreUnavailable, is_outage
from llmrelay.streams_redis.log import FOLLOW_BLOCK_MS
from tests.support.several import free_port

GONE = RedisConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")


@pytest.mark.parametrize(
    "exc",
    [
        GONE,
        RedisTimeoutError("Timeout reading"),
        AuthenticationError("invalid"),
        BusyLoadingError("loading"),
        ReadOnlyError("READONLY"),
    ],
    ids=type,
)
def test_redis_gone_is_an_outage(exc: Exception) -> None:
    assert is_outage(exc)


@pytest.mark.parametrize(
    "exc", [ResponseError("WRONGTYPE"), DataError("bad"), OSError("disk"), ValueError("x")], ids=type
)
def test_a_mistake_or_someone_elses_error_is_not(exc: Exception) -> None:
    assert not is_outage(exc)


def test_an_outage_is_store_unavailable_without_redis_words(caplog: pytest.LogCaptureFixture) -> None:
    outages = Outages()
    with pytest.raises(StoreUnavailable) as raised, outages.required("checking rate limits"):
        raise GONE
    assert str(raised.value) == raised.value.failure.message == MESSAGE
    assert (raised.value.failure.status, raised.value.failure.kind) == (503, "store_unavailable")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no chained traceback
    assert "6399" not in MESSAGE


def test_the_log_says_an_outage_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="llmrelay.shared_redis")
    outages = Outages()
    for _ in range(5):
        with pytest.raises(StoreUnavailable), outages.required("finding a generation"):
            raise GONE
        with outages.tolerated("heartbeat"):
            raise GONE
    for _ in range(3):
        with outages.tolerated("heartbeat"):
            pass
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "the shared store (Redis) is unavailable (finding a generation: ConnectionError: Error 111 "
        "connecting to 127.0.0.1:6399. Connection refused); requests that need it get 503 until it "
        "answers again",
        "the shared store (Redis) answers again",
    ]
    assert not outages.down
    assert not [r for r in caplog.records if r.exc_info]


def test_anything_but_an_outage_goes_through_untouched() -> None:
    outages = Outages()
    with pytest.raises(ResponseError), outages.required("x"):
        raise ResponseError("WRONGTYPE")
    with pytest.raises(ValueError), outages.tolerated("x"):
        raise ValueError("a bug")
    assert not outages.down


def test_the_socket_timeout_outlasts_a_followers_blocking_read() -> None:
    """A follower's XREAD waits FOLLOW_BLOCK_MS for entries on a healthy Redis: the socket
    timeout must not cut it, only a Redis that stopped answering."""
    assert shared_redis.client_options()["socket_timeout"] > FOLLOW_BLOCK_MS / 1000 + 1


async def test_a_client_of_a_redis_that_is_gone_fails_at_once_and_names_no_password() -> None:
    client = shared_redis.client(f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    try:
        with pytest.raises(RedisConnectionError) as raised:
            await client.ping()
    finally:
        await client.aclose()
    assert time.monotonic() - started < 2, "a refused connection is retried twice, briefly"
    assert "hunter2" not in str(raised.value) and "redis://" not in str(raised.value)

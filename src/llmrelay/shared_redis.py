"""The Redis every process shares (LLMRELAY_REDIS_URL): its clients, and what its outages mean.

Everything that talks to it (streams_redis/, stream_slots.py, limiter.py) goes through here, so
an outage behaves one way everywhere:
- `client(url)`: every Redis client llmrelay opens, with bounded waits. redis-py's defaults
  wait forever for a reply (no socket timeout) and retry a refused connection ten times, so a
  request that touched a Redis that had gone away would hang, or take seconds to fail.
- `is_outage(exc)`: Redis cannot be reached, stopped answering, refused our password or is
  loading: it went away (killed, restarted, network gone), as opposed to a bug of ours (a
  wrong command), which stays an internal error.
- `StoreUnavailable`: what a request that needs Redis gets meanwhile; the app's error handlers
  (api/errors.py) turn it into a 503 in each surface's own error shape. Its message is fixed:
  never redis-py's text, which names the host (and never the URL, which may hold a password).
- `STOPPED`: the failure an answer already streaming ends with (its log can no longer be
  shared, so no other process could resume, follow or cancel it).
- `Outages`: one warning when Redis stops answering and one line when it answers again,
  however many commands fail in between — not one per token, and no traceback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from llmrelay.streams import Failure

log = logging.getLogger(__name__)

# A Redis that does not accept the connection (its host gone) fails a command after this.
CONNECT_TIMEOUT_SECONDS = 2.0
# A Redis that stopped answering on an open connection (the network gone) fails a command
# after this. Above the followers' blocking XREAD (streams_redis/log.py, 5 s), which waits
# that long for entries on a healthy Redis.
SOCKET_TIMEOUT_SECONDS = 10.0
# Enough to get past connections a restarted Redis closed (the retry opens a fresh one), not
# so many that a Redis that is down keeps a request waiting. A timeout is not retried: a Redis
# silent for SOCKET_TIMEOUT_SECONDS will not answer the next attempt either.
RETRIES = 2
RETRY_BACKOFF = ExponentialWithJitterBackoff(cap=0.25, base=0.05)

MESSAGE = "The shared store (Redis) is unavailable; retry in a few seconds."
STOPPED = Failure(
    "The shared store (Redis) is unavailable, so this answer was stopped; retry in a few seconds.",
    503,
    "store_unavailable",
)


def client_options() -> dict[str, Any]:
    """redis-py options of every client (the `limits` library's too, which passes them on)."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "retry": Retry(RETRY_BACKOFF, RETRIES, supported_errors=(RedisConnectionError,)),
        "health_check_interval": 30,
    }


def client(url: str) -> Redis:
    return Redis.from_url(url, **client_options())


def is_outage(exc: BaseException) -> bool:
    """Redis went away (or cannot be used at all): not a mistake in what was asked of it.
    redis-py's ConnectionError covers a refused or dropped connection, a wrong password and a
    Redis still loading its data; ReadOnlyError a replica we were left on after a failover.
    (redis-py turns socket errors into these; a bare OSError may be the database's.)"""
    return isinstance(exc, RedisConnectionError | RedisTimeoutError | ReadOnlyError)


class StoreUnavailable(Exception):
    """A request needed the shared store and it cannot be reached: a 503, in the surface's shape."""

    def __init__(self) -> None:
        super().__init__(MESSAGE)
        self.failure = Failure(MESSAGE, 503, "store_unavailable")


def describe(exc: BaseException) -> str:
    """redis-py's own words for an outage, for the log: they name the host and port (or the
    socket's path), never the password."""
    text = str(exc).rstrip(".") or "no reply"
    return f"{type(exc).__name__}: {text}"


class Outages:
    """Whether this process last found Redis answering, logged only when that changes."""

    def __init__(self) -> None:
        self.down = False

    def failed(self, what: str, exc: BaseException) -> None:
        """Something could not be done in Redis: the first failure of an outage is a warning."""
        if self.down:
            log.debug("Redis still unavailable (%s): %s", what, describe(exc))
            return
        self.down = True
        log.warning(
            "the shared store (Redis) is unavailable (%s: %s); requests that need it get 503 "
            "until it answers again",
            what,
            describe(exc),
        )

    def report(self, what: str, exc: BaseException) -> None:
        """A command of a task that goes on (heartbeat, control channel) failed: an outage is
        said once (`failed`); anything else is ours, said each time with its kind."""
        if is_outage(exc):
            self.failed(what, exc)
        else:
            log.warning("%s failed (%s: %s)", what, type(exc).__name__, exc)

    def answered(self) -> None:
        """Redis answered a command: the outage, if there was one, is over."""
        if self.down:
            self.down = False
            log.warning("the shared store (Redis) answers again")

    @contextlib.contextmanager
    def required(self, what: str) -> Iterator[None]:
        """Around what a request cannot do without Redis: an outage is `StoreUnavailable`."""
        try:
            yield
        except Exception as exc:
            if not is_outage(exc):
                raise
            self.failed(what, exc)
            raise StoreUnavailable from None
        self.answered()

    @contextlib.contextmanager
    def tolerated(self, what: str) -> Iterator[None]:
        """Around what may be lost when Redis is down (it expires or is redone by itself):
        an outage is logged (once) and swallowed."""
        try:
            yield
        except Exception as exc:
            if not is_outage(exc):
                raise
            self.failed(what, exc)
            return
        self.answered()

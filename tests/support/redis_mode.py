"""The suite's Redis mode: `LLMRELAY_TEST_REDIS_URL=redis://127.0.0.1:6379/0 pytest …` runs every
llmrelay server the suite starts with LLMRELAY_REDIS_URL set to it (tests/README.md).

Each server gets a key prefix of its own (`LLMRELAY_REDIS_PREFIX`), under one prefix for the
whole run, so no two tests (and no two servers of one test, unless the test shares one on
purpose) see each other's keys; the session deletes everything under its prefix at the end.
Servers built with `make_settings` get it there; `llmrelay` subprocesses through
`subprocess_env`. Read once, at import: the suite scrubs every LLMRELAY_* variable before tests.
"""

from __future__ import annotations

import itertools
import os
import secrets

REDIS_MODE_URL: str | None = os.environ.get("LLMRELAY_TEST_REDIS_URL") or None
# Everything this run writes in Redis mode starts with this.
REDIS_MODE_PREFIX = f"llmrelay-test-mode-{secrets.token_hex(3)}-"
_servers = itertools.count()


def redis_mode_on() -> bool:
    return REDIS_MODE_URL is not None


def fresh_prefix() -> str:
    return f"{REDIS_MODE_PREFIX}{next(_servers)}:"


def redis_mode_settings() -> dict[str, object]:
    """Settings values for one server in Redis mode (its own prefix); nothing otherwise."""
    if REDIS_MODE_URL is None:
        return {}
    return {"redis_url": REDIS_MODE_URL, "redis_prefix": fresh_prefix()}


def redis_mode_env() -> dict[str, str]:
    """The same as environment variables, for an `llmrelay` subprocess."""
    if REDIS_MODE_URL is None:
        return {}
    return {"LLMRELAY_REDIS_URL": REDIS_MODE_URL, "LLMRELAY_REDIS_PREFIX": fresh_prefix()}

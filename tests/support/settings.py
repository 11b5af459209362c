"""Settings for tests, built from arguments only."""

from __future__ import annotations

import os
import tempfile

import pytest

from llmrelay.settings import Settings
from tests.support.environment import scrub
from tests.support.redis_mode import redis_mode_settings

# On CI every test must run: a missing PostgreSQL or chromium is a failure there, not a skip.
REQUIRE_ALL = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    pytest.skip(reason)


def make_settings(**values: object) -> Settings:
    """Settings for a test: nothing read from the developer's .env or environment.

    The environment is scrubbed while they are read, so this holds even outside a test (a
    module-level app, a module-scoped fixture built before the per-test scrub). In the suite's
    Redis mode (tests/support/redis_mode.py) they name that Redis, with a key prefix of their
    own, unless `values` name a Redis themselves.
    """
    base: dict[str, object] = {
        "provider": "scripted",
        "detach_grace_seconds": 0,
        # A fresh SQLite file per app, never ./llmrelay.db of whoever runs the tests.
        "database_url": f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='llmrelay-test-')}/llmrelay.db",
    }
    if "redis_url" not in values:
        base.update(redis_mode_settings())
    base.update(values)
    with pytest.MonkeyPatch.context() as monkeypatch:
        scrub(monkeypatch)
        return Settings(_env_file=None, **base)  # type: ignore[call-arg]

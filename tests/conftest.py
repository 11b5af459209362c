from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.settings import Settings
from tests.servers import serve

# On CI every test must run: a missing PostgreSQL or chromium is a failure there, not a skip.
REQUIRE_ALL = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (CI=true: nothing may be skipped)")
    pytest.skip(reason)


def make_settings(**values: object) -> Settings:
    """Settings for a test: nothing read from the developer's .env or environment."""
    base: dict[str, object] = {
        "provider": "scripted",
        "detach_grace_seconds": 0,
        # A fresh SQLite file per app, never ./llmrelay.db of whoever runs the tests.
        "database_url": f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='llmrelay-test-')}/llmrelay.db",
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider.replying("Hello there, world!")


@pytest.fixture
def scripted_server(scripted: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=scripted)) as url:
        yield url

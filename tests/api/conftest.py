"""Fixtures of the end-to-end tests of llmrelay's HTTP surfaces: a real server, a scripted model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.redis import RedisSpace
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.several import Pair, two_servers


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider.replying("Hello there, world!")


@pytest.fixture
def scripted_server(scripted: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=scripted)) as url:
        yield url


@pytest.fixture
def pair(redis_space: RedisSpace, tmp_path: Path) -> Iterator[Pair]:
    """Two servers sharing Redis and one SQLite file (tests.support.several.two_servers)."""
    with two_servers(redis_space, f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}") as servers:
        yield servers

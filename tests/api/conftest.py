"""Fixtures of the end-to-end tests of llmrelay's HTTP surfaces: a real server, a scripted model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from tests.support.servers import serve
from tests.support.settings import make_settings


@pytest.fixture
def scripted() -> ScriptedProvider:
    return ScriptedProvider.replying("Hello there, world!")


@pytest.fixture
def scripted_server(scripted: ScriptedProvider) -> Iterator[str]:
    with serve(create_app(make_settings(), provider=scripted)) as url:
        yield url

"""Fixtures of the client-library tests: llmrelay in front of the OpenAI stand-in (`upstream`;
a test scripts the stand-in through `fake`, which resets it) and on the embedded model
(`local`), one of each per module; every client's tracing and telemetry off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.clients import Relay, local_relay, upstream_relay
from tests.support.fake_openai import FakeOpenAI


@pytest.fixture(autouse=True)
def no_client_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """No client reaches the network on its own (the root conftest already removed OPENAI_*)."""
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "false")
    for name in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def upstream(fake_upstream: tuple[FakeOpenAI, str]) -> Iterator[Relay]:
    with upstream_relay(fake_upstream[1]) as relay:
        yield relay


@pytest.fixture(scope="module")
def local() -> Iterator[Relay]:
    with local_relay() as relay:
        yield relay

"""llmrelay served for the client-library tests (tests/clients/): in front of the OpenAI
stand-in (deterministic, scriptable agent loops) or of the embedded model.

The clients under test are told everything explicitly (base URL, a fake key), and their
telemetry is off (tests/clients/conftest.py), so none reads the developer's environment or
reaches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from llmrelay.app import create_app
from tests.support.servers import serve
from tests.support.settings import make_settings
from tests.support.upstream import serve_relay

UPSTREAM_MODEL = "upstream-model"
# What the clients send as their key: llmrelay runs without keys here, so any value passes.
CLIENT_KEY = "sk-client-test"


@dataclass(frozen=True)
class Relay:
    url: str  # llmrelay's base URL; the OpenAI API is under /v1
    model: str  # the model a client names

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def upstream_relay(fake_url: str, provider: str = "openai-compatible") -> Iterator[Relay]:
    """llmrelay with the stand-in as its upstream: `openai-compatible` (Chat Completions) or
    `openai` (the Responses API, which llmrelay translates to and from)."""
    # Grammar-free, but an agent's loop is several requests: more time than serve_relay's 10 s.
    with serve_relay(provider, fake_url, model=UPSTREAM_MODEL, upstream_timeout_seconds=30) as url:
        yield Relay(url, UPSTREAM_MODEL)


@contextmanager
def local_relay(max_output_tokens: int = 96) -> Iterator[Relay]:
    """llmrelay on the embedded model (SmolLM2-135M); small answers keep the suite quick."""
    with serve(create_app(make_settings(provider="local", max_output_tokens=max_output_tokens))) as url:
        models = httpx.get(f"{url}/v1/models", timeout=30).raise_for_status().json()
        yield Relay(url, models["data"][0]["id"])

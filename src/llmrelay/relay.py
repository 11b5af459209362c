"""What a running llmrelay is made of: the parts the lifespan builds and the routes use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from llmrelay.models import ModelRegistry
from llmrelay.providers.base import Provider
from llmrelay.settings import Settings
from llmrelay.store import Store

if TYPE_CHECKING:
    from llmrelay.auth import KeyLookup
    from llmrelay.usage import UsageWriter
from llmrelay.streams import StreamRegistry


@dataclass
class Relay:
    settings: Settings
    # The default model (what the tutorial routes and the page use): `models.default`.
    provider: Provider
    streams: StreamRegistry
    # Every model a client may name in "model" (/v1), the default among them.
    models: ModelRegistry
    # Conversations, messages, responses, keys, usage (None only where a caller runs without one).
    store: Store | None = None
    # Stored keys, looked up with a short memory (auth.KeyLookup); None: ask the store each time.
    key_lookup: KeyLookup | None = None
    # Where answers' token usage goes, written in batches (usage.UsageWriter); None: not kept.
    usage: UsageWriter | None = None


def get_relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


async def _relay_dependency(request: Request) -> Relay:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop that
    # cost ~12% of the CPU of a short request (bench/notes.md).
    return get_relay(request)


RelayDep = Annotated[Relay, Depends(_relay_dependency)]

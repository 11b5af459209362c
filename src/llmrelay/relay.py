"""What a running llmrelay is made of: the parts the lifespan builds and the routes use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from llmrelay.models import ModelRegistry
from llmrelay.providers.base import Provider
from llmrelay.settings import Settings
from llmrelay.store import Store
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


def get_relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


RelayDep = Annotated[Relay, Depends(get_relay)]

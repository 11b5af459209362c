"""What a running llmrelay is made of: the parts the lifespan builds and the routes use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from llmrelay.providers.base import Provider
from llmrelay.settings import Settings
from llmrelay.streams import StreamRegistry


@dataclass
class Relay:
    settings: Settings
    provider: Provider
    streams: StreamRegistry


def get_relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


RelayDep = Annotated[Relay, Depends(get_relay)]

"""Operations: health for load balancers and start-up checks."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from llmrelay import __version__
from llmrelay.relay import RelayDep

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: str
    version: str
    provider: str
    model: str
    running_generations: int


@router.get("/healthz", response_model=Health, summary="Liveness and what is being served")
async def healthz(relay: RelayDep) -> Health:
    return Health(
        status="ok",
        version=__version__,
        provider=relay.provider.info.name,
        model=relay.provider.info.model,
        running_generations=relay.streams.running(),
    )

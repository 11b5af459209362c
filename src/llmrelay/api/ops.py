"""Operations: health for load balancers and start-up checks."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from llmrelay import __version__
from llmrelay.api.deps import RuntimeDep
from llmrelay.auth import open_route

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: str
    version: str
    provider: str
    model: str
    running_generations: int


@router.get("/healthz", response_model=Health, summary="Liveness and what is being served")
@open_route
async def healthz(runtime: RuntimeDep) -> Health:
    default = runtime.models.default
    return Health(
        status="ok",
        version=__version__,
        provider=default.info.name,
        model=default.info.model,
        running_generations=runtime.streams.running(),
    )

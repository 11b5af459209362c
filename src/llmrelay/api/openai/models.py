"""`GET /v1/models`: the names a client may put in `model`, and the lookup every endpoint uses."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from llmrelay.api.deps import ModelsDep
from llmrelay.api.openai.errors import OpenAIError
from llmrelay.models import ModelRegistry
from llmrelay.providers.base import Provider

router = APIRouter(prefix="/v1", tags=["openai"])


def provider_for(models: ModelRegistry, name: str) -> Provider:
    provider = models.get(name)
    if provider is None:
        raise OpenAIError(
            404,
            f"The model '{name}' does not exist or you do not have access to it "
            f"(this server has: {', '.join(models.names())}).",
            param="model",
            code="model_not_found",
        )
    return provider


def model_body(name: str, provider: Provider, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": provider.info.name}


def _served_since(request: Request) -> int:
    # Every model's `created`: when this app started serving (set by the lifespan).
    started: int = request.app.state.runtime.started_at
    return started


@router.get("/models", summary="The models a client may name in `model`")
async def list_models(request: Request, models: ModelsDep) -> dict[str, Any]:
    created = _served_since(request)
    return {"object": "list", "data": [model_body(name, p, created) for name, p in models.items()]}


@router.get("/models/{model}", summary="One model")
async def get_model(request: Request, model: str, models: ModelsDep) -> dict[str, Any]:
    return model_body(model, provider_for(models, model), _served_since(request))

"""The typed dependencies routes ask for: exactly what each one uses, nothing to look up.

The lifespan puts the `Runtime` on `app.state`; these aliases hand its parts to a route.
All are `async` on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop
that cost ~12% of the CPU of a short request (bench/notes.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from llmrelay.auth import Caller, current_caller
from llmrelay.models import ModelRegistry
from llmrelay.pipeline import Pipeline
from llmrelay.providers.base import Provider
from llmrelay.runtime import Runtime
from llmrelay.settings import Settings
from llmrelay.store import Store
from llmrelay.streams import StreamRegistry


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def _settings(request: Request) -> Settings:
    return runtime_of(request).settings


async def _store(request: Request) -> Store:
    return runtime_of(request).store


async def _models(request: Request) -> ModelRegistry:
    return runtime_of(request).models


async def _default_model(request: Request) -> Provider:
    return runtime_of(request).models.default


async def _streams(request: Request) -> StreamRegistry:
    return runtime_of(request).streams


async def _pipeline(request: Request) -> Pipeline:
    return runtime_of(request).pipeline


async def _caller(request: Request) -> Caller:
    return current_caller(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
ModelsDep = Annotated[ModelRegistry, Depends(_models)]
# The model the tutorial routes, the page and /api answer with (the models file's first entry).
DefaultModelDep = Annotated[Provider, Depends(_default_model)]
StreamsDep = Annotated[StreamRegistry, Depends(_streams)]
PipelineDep = Annotated[Pipeline, Depends(_pipeline)]
CallerDep = Annotated[Caller, Depends(_caller)]

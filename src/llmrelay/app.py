"""`create_app(settings)` -> the FastAPI application. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from llmrelay import __version__, metrics
from llmrelay.api import errors, ops, tutorial, web
from llmrelay.logs import RequestIdMiddleware, configure_logging
from llmrelay.providers import build_provider
from llmrelay.providers.base import Provider
from llmrelay.relay import Relay
from llmrelay.settings import Settings, load_settings
from llmrelay.streams import StreamRegistry

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, provider: Provider | None = None) -> FastAPI:
    """Build the app. `provider` may be given ready-made (the CLI loads it before serving,
    so a bad setting is one sentence, not a traceback; tests pass a scripted one)."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app_metrics = metrics.Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = provider or await build_provider(settings)
        streams = StreamRegistry(
            retention_seconds=settings.stream_retention_seconds, observers=[app_metrics.observe_generation]
        )
        app.state.relay = Relay(settings=settings, provider=backend, streams=streams)
        log.info("llmrelay %s ready: provider=%s model=%s", __version__, backend.info.name, backend.info.model)
        try:
            yield
        finally:
            await streams.aclose()
            await backend.aclose()

    app = FastAPI(
        title="llmrelay",
        version=__version__,
        summary="Stream a language model's answers over Server-Sent Events.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(web.router)
    web.mount_static(app)
    app.include_router(tutorial.router)
    app.include_router(ops.router)
    metrics.install(app, app_metrics)
    app.add_middleware(RequestIdMiddleware)
    return app

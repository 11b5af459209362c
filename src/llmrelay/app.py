"""`create_app(settings)` -> the FastAPI application. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from llmrelay import __version__, auth, metrics
from llmrelay.api import admin, chat, conversations, errors, markdown, openai, ops, tutorial, web
from llmrelay.api.anthropic import route as anthropic_messages
from llmrelay.limiter import Limiter
from llmrelay.logs import RequestIdMiddleware, configure_logging
from llmrelay.models import ModelRegistry
from llmrelay.overhead import OverheadMiddleware
from llmrelay.providers.base import Provider
from llmrelay.runtime import Runtime
from llmrelay.settings import Settings, load_settings
from llmrelay.store import Store

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    provider: Provider | None = None,
    models: ModelRegistry | None = None,
    store: Store | None = None,
    runtime: Runtime | None = None,
    limiter: Limiter | None = None,
) -> FastAPI:
    """Build the app. A whole `runtime`, or `models` (or one `provider`) and the `store`, may be
    given ready-made (`llmrelay serve` opens the runtime before binding, so a bad setting is one
    sentence, not a traceback; tests pass scripted models, and a `limiter` with short windows). The app owns what it is given: it
    closes it when it stops."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app_metrics = metrics.Metrics(per_key=settings.metrics_key_labels)
    given = runtime

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if given is None:
            opened = await Runtime.open(
                settings,
                models=models or (ModelRegistry.single(provider) if provider else None),
                store=store,
                observers=[app_metrics.observe_generation],
                limiter=limiter,
            )
        else:
            opened = given
            opened.streams.observers.append(app_metrics.observe_generation)
        app.state.runtime = runtime = opened
        default = runtime.models.default
        log.info(
            "llmrelay %s ready: provider=%s model=%s models=%s",
            __version__,
            default.info.name,
            default.info.model,
            ",".join(runtime.models.names()),
        )
        try:
            yield
        finally:
            await runtime.aclose()

    app = FastAPI(
        title="llmrelay",
        version=__version__,
        summary="Stream a language model's answers over Server-Sent Events.",
        lifespan=lifespan,
        # Keys for every route not marked @auth.open_route, present and future: it fails closed.
        dependencies=[Depends(auth.guard)],
    )
    errors.install(app)
    app.include_router(web.router)
    web.mount_static(app)
    app.include_router(tutorial.router)
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(markdown.router)
    for router in openai.routers:
        app.include_router(router)
    app.include_router(anthropic_messages.router)
    app.include_router(ops.router)
    app.include_router(admin.router)
    metrics.install(app, app_metrics)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: llmrelay's own time is counted from the request's arrival.
    app.add_middleware(OverheadMiddleware, histogram=app_metrics.overhead)
    return app

"""`create_app(settings)` -> the FastAPI application. Nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from llmrelay import __version__, auth, metrics
from llmrelay.api import chat, conversations, errors, openai_v1, ops, tutorial, web
from llmrelay.logs import RequestIdMiddleware, configure_logging
from llmrelay.models import ModelRegistry, build_registry
from llmrelay.providers.base import Provider
from llmrelay.relay import Relay
from llmrelay.settings import Settings, load_settings
from llmrelay.store import Store
from llmrelay.streams import StreamRegistry
from llmrelay.usage import UsageWriter

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    provider: Provider | None = None,
    models: ModelRegistry | None = None,
    store: Store | None = None,
) -> FastAPI:
    """Build the app. `models` (or one `provider`) and the `store` may be given ready-made (the
    CLI opens them before serving, so a bad setting is one sentence, not a traceback; tests pass
    scripted models). The app owns what it is given: it closes them when it stops."""
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    app_metrics = metrics.Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = models or (ModelRegistry.single(provider) if provider else await build_registry(settings))
        backend = registry.default
        streams = StreamRegistry(
            retention_seconds=settings.stream_retention_seconds, observers=[app_metrics.observe_generation]
        )
        opened = store or await Store.open(settings.database_url)
        usage = UsageWriter(opened)
        usage.start()
        app.state.relay = Relay(
            settings=settings,
            provider=backend,
            streams=streams,
            models=registry,
            store=opened,
            key_lookup=auth.KeyLookup(opened),
            usage=usage,
        )
        log.info(
            "llmrelay %s ready: provider=%s model=%s models=%s",
            __version__,
            backend.info.name,
            backend.info.model,
            ",".join(registry.names()),
        )
        try:
            yield
        finally:
            # Running answers are cancelled and recorded before the store closes.
            await streams.aclose()
            await usage.aclose()
            await opened.close()
            await registry.aclose()

    app = FastAPI(
        title="llmrelay",
        version=__version__,
        summary="Stream a language model's answers over Server-Sent Events.",
        lifespan=lifespan,
        # Keys for /v1 and /api (auth.guard looks at the path), for every router, present and future.
        dependencies=[Depends(auth.guard)],
    )
    errors.install(app)
    app.include_router(web.router)
    web.mount_static(app)
    app.include_router(tutorial.router)
    app.include_router(chat.router)
    app.include_router(conversations.router)
    app.include_router(openai_v1.router)
    app.include_router(ops.router)
    metrics.install(app, app_metrics)
    app.add_middleware(RequestIdMiddleware)
    return app

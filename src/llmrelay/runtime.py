"""The composition root: everything a running llmrelay is made of, built in one place.

`Runtime.open(settings)` builds the models, opens the store, and wires the stream machinery
with its observers (usage rows, metrics), the key checks and the answer pipeline. The app's
lifespan, `llmrelay serve` (which opens it before binding, so a bad setting is one sentence)
and `llmrelay ask` all use it, so they cannot drift apart: `ask` serves the models file too.

`aclose()` stops in the order that loses nothing: running answers are cancelled and recorded,
usage rows written, then the store and the models closed.

Recovery (answers left `streaming` by a process that stopped become `interrupted`) belongs to
servers only (`recover=True`): without Redis, a server marks them once at start-up; with it,
every server's watchdog finds the answers whose process died. `llmrelay ask` passes
`recover=False`: it may run beside a live server, whose answers are not finished, only running.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from llmrelay.auth import Authenticator, KeyLookup
from llmrelay.limiter import Limiter, limiter_for
from llmrelay.models import ModelRegistry, build_registry
from llmrelay.pipeline import Pipeline
from llmrelay.settings import Settings
from llmrelay.store import Owner, Store
from llmrelay.streams import Observer, StreamRegistry
from llmrelay.streams_redis import RedisSharing
from llmrelay.usage import UsageWriter


@dataclass(eq=False)
class Runtime:
    settings: Settings
    # Every model a client may name; `models.default` serves the page, /chat-* and /api.
    models: ModelRegistry
    store: Store
    streams: StreamRegistry
    usage: UsageWriter
    auth: Authenticator
    pipeline: Pipeline
    # Generations shared with other processes through Redis (LLMRELAY_REDIS_URL); None: not.
    sharing: RedisSharing | None = None
    # When this runtime started serving (unix seconds): /v1/models reports it as `created`.
    started_at: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        models: ModelRegistry | None = None,
        store: Store | None = None,
        observers: Sequence[Observer] = (),
        write_usage_in_background: bool = True,
        limiter: Limiter | None = None,
        recover: bool = True,
    ) -> Runtime:
        """Build what is not given. What is given is owned from here on: `aclose` closes it.
        `recover=False`: never mark other processes' answers interrupted (module docstring)."""
        registry = models or await build_registry(settings)
        sharing: RedisSharing | None = None
        try:
            # With Redis, generations are shared with every process using it (streams_redis).
            sharing = await RedisSharing.open(settings) if settings.redis_url is not None else None
            # Shared: other processes may be mid-answer, so their `streaming` rows are not ours
            # to mark; the watchdog finds the answers whose process died (streams_redis/watchdog.py).
            opened = store or await Store.open(
                settings.database_url, recover_interrupted=recover and sharing is None
            )
        except BaseException:
            if sharing is not None:
                await sharing.aclose()
            if models is None:
                await registry.aclose()
            raise
        usage = UsageWriter(opened)
        if write_usage_in_background:
            usage.start()
        streams = StreamRegistry(
            retention_seconds=settings.stream_retention_seconds,
            observers=[usage.observe, *observers],
            sharing=sharing,
        )
        if sharing is not None:
            await sharing.start(streams, opened, watch=recover)

        async def spent(owner: Owner, since: datetime | None) -> int:
            await usage.flush()  # what this process spent is in the table before it is read
            return await opened.tokens_spent(owner, since)

        if limiter is None:
            redis_url = None if settings.redis_url is None else settings.redis_url.get_secret_value()
            limiter = limiter_for(
                redis_url,
                settings.redis_prefix,
                settings.default_limits(),
                spent_reader=spent,
                outages=sharing.outages if sharing is not None else None,
            )
        return cls(
            settings=settings,
            models=registry,
            store=opened,
            streams=streams,
            usage=usage,
            auth=Authenticator(settings.env_api_keys(), KeyLookup(opened)),
            pipeline=Pipeline(streams, grace_seconds=settings.detach_grace_seconds, limiter=limiter),
            sharing=sharing,
        )

    async def aclose(self) -> None:
        try:
            # Running answers are cancelled and recorded before the store closes.
            await self.streams.aclose()
            if self.sharing is not None:
                await self.sharing.aclose()  # after the last answers' logs reached Redis
            await self.usage.aclose()
            if self.pipeline.limiter is not None:
                await self.pipeline.limiter.aclose()
        finally:
            with contextlib.suppress(Exception):
                await self.store.close()
            await self.models.aclose()

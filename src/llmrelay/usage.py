"""Token usage per answer, recorded against the caller's key when the answer ends.

Every generation records one row (never one per token) when it ends: `UsageWriter.observe`
is a `StreamRegistry` observer, like the metrics, so no route can forget it. The tokens are
the generation's own (`accounting.spent_tokens`: reported, or estimated).

Rows go to a `UsageWriter`, which writes them in batches from a background task: an answer's
`end` never waits for the database, and 10,000 answers ending at once are a few transactions,
not 10,000 (which exhausted the connection pool; bench/notes.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from llmrelay.store import Owner, Store, UsageRow
from llmrelay.streams import Generation, GenerationResult

log = logging.getLogger(__name__)


class UsageWriter:
    """Collects usage rows and writes them in batches, at most `interval` seconds late."""

    def __init__(self, store: Store, *, interval: float = 0.25, batch: int = 1000) -> None:
        self._store = store
        self._interval = interval
        self._batch = batch
        self._rows: list[UsageRow] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="usage-writer")

    def add(self, row: UsageRow) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._batch:
            self._wake.set()

    async def flush(self) -> None:
        while self._rows:
            rows, self._rows = self._rows[: self._batch], self._rows[self._batch :]
            try:
                await self._store.record_usage_many(rows)
            except Exception:
                # Usage is bookkeeping: losing a batch must not take answers down with it.
                log.exception("could not record the usage of %d answer(s)", len(rows))

    async def aclose(self) -> None:
        """Write what is left, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    def observe(self, generation: Generation, result: GenerationResult) -> None:
        """A `StreamRegistry` observer: one row per ended generation, against its caller's key."""
        usage = result.usage
        identity = generation.identity
        self.add(
            UsageRow(
                api_key_id=identity.key_id,
                owner=Owner(identity.owner),
                route=identity.route,
                model=identity.model,
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
            )
        )

"""Token usage per answer, recorded against the caller's key when the answer ends.

Every route that asks a model records one row per answer (never per token): the provider's
counts where it reported them, estimates where it could not (a stream cancelled before its
usage event still cost tokens), nothing for a request the upstream refused outright.

Rows go to a `UsageWriter`, which writes them in batches from a background task: an answer's
`end` never waits for the database, and 10,000 answers ending at once are a few transactions,
not 10,000 (which exhausted the connection pool; bench/notes.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from llmrelay.providers.base import ChatMessage, Provider, Usage
from llmrelay.store import Store, UsageRow
from llmrelay.streams import Generation, GenerationResult, OnEnd

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


def token_counts(
    usage: Usage | None, prompt_tokens: Callable[[], int], count_tokens: Callable[[str], int], text: str
) -> tuple[int, int]:
    """The provider's counts, or estimates where it reported none (a cancelled stream).
    `prompt_tokens` is called only when needed: counting a long prompt is not free."""
    usage = usage or Usage(None, None)
    prompt = prompt_tokens() if usage.input_tokens is None else usage.input_tokens
    output = count_tokens(text) if usage.output_tokens is None else usage.output_tokens
    return prompt, output


def prompt_counter(provider: Provider, messages: Sequence[ChatMessage]) -> int:
    return sum(provider.count_tokens(m.content) for m in messages)


def spent_tokens(
    result: GenerationResult, provider: Provider, messages: Sequence[ChatMessage]
) -> tuple[int | None, int | None]:
    if result.usage is None and result.failure is not None and not result.text:
        return None, None  # refused upstream: nothing spent
    return token_counts(
        result.usage, lambda: prompt_counter(provider, messages), provider.count_tokens, result.text
    )


def usage_recorder(
    writer: UsageWriter | None,
    *,
    api_key_id: str | None,
    route: str,
    model: str,
    provider: Provider,
    messages: Sequence[ChatMessage],
) -> OnEnd:
    """An `on_end` that records the answer's tokens (a no-op without a writer)."""

    async def record(generation: Generation, result: GenerationResult) -> None:
        if writer is None:
            return
        input_tokens, output_tokens = spent_tokens(result, provider, messages)
        writer.add(
            UsageRow(
                api_key_id=api_key_id,
                route=route,
                model=model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
            )
        )

    return record


def both(first: OnEnd, second: OnEnd) -> OnEnd:
    async def run(generation: Generation, result: GenerationResult) -> None:
        await first(generation, result)
        await second(generation, result)

    return run

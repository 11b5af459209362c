"""llmrelay.usage in-process: the usage writer batches rows and flushes them on close."""

from __future__ import annotations

import asyncio

from llmrelay.store import NO_KEY_OWNER, Store, UsageRow
from llmrelay.usage import UsageWriter


async def test_usage_rows_are_written_in_batches_and_flushed_on_close(database_url: str) -> None:
    store = await Store.open(database_url, recover_interrupted=False)
    try:
        writer = UsageWriter(store, interval=60, batch=100)
        writer.start()

        def add(count: int) -> None:
            for _ in range(count):
                writer.add(
                    UsageRow(
                        api_key_id=None,
                        owner=NO_KEY_OWNER,
                        route="/t",
                        model="m",
                        input_tokens=2,
                        output_tokens=1,
                    )
                )

        async def written() -> int:
            totals = await store.usage_by_key()
            return int(totals[-1]["requests"]) if totals else 0

        add(50)  # below a batch: waits for the interval (60 s here)
        await asyncio.sleep(0.3)
        assert await written() == 0
        add(60)  # a full batch is there: written now, with the rows before it
        await asyncio.sleep(0.3)
        assert await written() == 110
        add(5)
        await writer.aclose()  # what is left is written on close
        assert await written() == 115
    finally:
        await store.close()

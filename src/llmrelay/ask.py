"""`llmrelay ask`: one answer streamed to a terminal, through the same provider and streams."""

from __future__ import annotations

import logging
from typing import TextIO

from rich.console import Console

from llmrelay.providers import build_provider
from llmrelay.providers.base import ChatMessage, GenerationRequest, TextDelta
from llmrelay.settings import Settings
from llmrelay.streams import Failure, StreamRegistry


async def ask_model(settings: Settings, message: str, *, out: TextIO) -> int:
    """Stream the answer to `out`; 0 when it completed, 1 when it failed."""
    logging.basicConfig(level=logging.WARNING)
    err = Console(stderr=True, highlight=False)
    provider = await build_provider(settings)
    streams = StreamRegistry(retention_seconds=0)
    try:
        generation = streams.start(
            provider,
            GenerationRequest(messages=[ChatMessage("user", message)]),
            grace_seconds=0,
        )
        async for batch in generation.listen():
            for _, event in batch:
                if isinstance(event, TextDelta):
                    out.write(event.text)
                    out.flush()
                elif isinstance(event, Failure):
                    out.write("\n")
                    err.print(f"[bold red]error:[/] {event.message}", soft_wrap=True)
                    return 1
        out.write("\n")
        return 0
    finally:
        await streams.aclose()
        await provider.aclose()

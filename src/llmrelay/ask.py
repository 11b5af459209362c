"""`llmrelay ask`: one turn of a conversation streamed to a terminal.

It goes the way a request to the server goes (store, history, streams), so a conversation
started here continues on the page, and the other way round.
"""

from __future__ import annotations

import logging
from typing import TextIO

from rich.console import Console

from llmrelay.conversations import ConversationNotFound, start_turn
from llmrelay.models import ModelRegistry
from llmrelay.providers import build_provider
from llmrelay.providers.base import ProviderError, TextDelta
from llmrelay.relay import Relay
from llmrelay.settings import Settings, SettingsError
from llmrelay.store import Store
from llmrelay.streams import Failure, StreamRegistry
from llmrelay.usage import UsageWriter


async def ask_model(
    settings: Settings, message: str, *, out: TextIO, conversation_id: str | None = None
) -> int:
    """Stream the answer to `out`; 0 when it completed, 1 when it failed."""
    logging.basicConfig(level=logging.WARNING)
    err = Console(stderr=True, highlight=False)
    provider = await build_provider(settings)
    store = await Store.open(settings.database_url)
    streams = StreamRegistry(retention_seconds=0)
    usage = UsageWriter(store)  # not started: written once, when the answer is done
    relay = Relay(settings, provider, streams, ModelRegistry.single(provider), store, usage=usage)
    try:
        try:
            turn = await start_turn(relay, message, conversation_id, grace_seconds=0, route="cli ask")
        except ConversationNotFound:
            raise SettingsError(f"--conversation: no conversation with id {conversation_id!r}.") from None
        except ProviderError as exc:
            err.print(f"[bold red]error:[/] {exc.message}", soft_wrap=True)
            return 1
        failed = False
        async for batch in turn.generation.listen():
            for _, event in batch:
                if isinstance(event, TextDelta):
                    out.write(event.text)
                    out.flush()
                elif isinstance(event, Failure):
                    out.write("\n")
                    err.print(f"[bold red]error:[/] {event.message}", soft_wrap=True)
                    failed = True
        if not failed:
            out.write("\n")
        err.print(
            f"[dim]conversation {turn.conversation_id}: continue with --conversation {turn.conversation_id}[/]",
            soft_wrap=True,
        )
        return 1 if failed else 0
    finally:
        await streams.aclose()
        await usage.aclose()
        await store.close()
        await provider.aclose()


async def list_conversations(settings: Settings, *, limit: int) -> list[tuple[str, str, str]]:
    store = await Store.open(settings.database_url, recover_interrupted=False)
    try:
        records = await store.list_conversations(limit=limit)
    finally:
        await store.close()
    return [(r.id, r.title, r.updated_at.strftime("%Y-%m-%d %H:%M")) for r in records]

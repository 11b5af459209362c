"""`llmrelay ask`: one turn of a conversation streamed to a terminal.

It goes the way a request to the server goes (the same runtime: models file, store, streams,
usage), so a conversation started here continues on the page, and the other way round.
"""

from __future__ import annotations

import logging
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from llmrelay.conversations import ConversationNotFound, start_turn
from llmrelay.providers.base import ProviderError, RefusalDelta, TextDelta
from llmrelay.runtime import Runtime
from llmrelay.settings import Settings, SettingsError
from llmrelay.store import NO_KEY_OWNER, Store
from llmrelay.streams import Failure


async def ask_model(
    settings: Settings,
    message: str,
    *,
    out: TextIO,
    conversation_id: str | None = None,
    model: str | None = None,
) -> int:
    """Stream the answer to `out`; 0 when it completed, 1 when it failed."""
    logging.basicConfig(level=logging.WARNING)
    err = Console(stderr=True, highlight=False)
    # Usage is written once, when the answer is done (aclose), not by a background task. No
    # recovery: a server may be running beside this command, its answers still streaming.
    runtime = await Runtime.open(settings, write_usage_in_background=False, recover=False)
    try:
        provider = runtime.models.default if model is None else runtime.models.get(model)
        if provider is None:
            raise SettingsError(
                f"--model: no model named {model!r} (this llmrelay has: {', '.join(runtime.models.names())})."
            )
        try:
            turn = await start_turn(
                runtime,
                provider,
                message,
                conversation_id,
                resumable=False,
                route="cli ask",
                model_name=model or runtime.models.default_name,
            )
        except ConversationNotFound:
            raise SettingsError(f"--conversation: no conversation with id {conversation_id!r}.") from None
        except ProviderError as exc:
            err.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
            return 1
        failed = False
        async for batch in turn.generation.listen():
            for _, event in batch:
                if isinstance(event, TextDelta | RefusalDelta):  # a refusal is what there is to read
                    out.write(event.text)
                    out.flush()
                elif isinstance(event, Failure):
                    out.write("\n")
                    err.print(f"[bold red]error:[/] {escape(event.message)}", soft_wrap=True)
                    failed = True
        if not failed:
            out.write("\n")
        err.print(
            f"[dim]conversation {turn.conversation_id}: continue with --conversation {turn.conversation_id}[/]",
            soft_wrap=True,
        )
        return 1 if failed else 0
    finally:
        await runtime.aclose()


async def list_conversations(settings: Settings, *, limit: int) -> list[tuple[str, str, str]]:
    store = await Store.open(settings.database_url, recover_interrupted=False)
    try:
        # The terminal is the one user of a server without keys: the no-key tenant.
        records = await store.list_conversations(NO_KEY_OWNER, limit=limit)
    finally:
        await store.close()
    return [(r.id, r.title, r.updated_at.strftime("%Y-%m-%d %H:%M")) for r in records]

"""`llmrelay db …` and `llmrelay keys …`: the store from the command line.

These commands may run beside a live server, so they open the store without marking
`streaming` answers as interrupted (that is for a server starting up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmrelay.settings import SettingsError, load_settings

if TYPE_CHECKING:
    # Imported when a command runs: SQLAlchemy and Alembic need not slow down `llmrelay ask`.
    from llmrelay.store import Store

T = TypeVar("T")

db_app = typer.Typer(help="The database (LLMRELAY_DATABASE_URL).", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys for the gateway: only their sha256 hashes are stored.", no_args_is_help=True
)
# soft_wrap: a long URL or id stays on one line, to be copied whole.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _with_store(action: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store (migrating it), run `action`, close it; errors -> one line."""
    from llmrelay.store import Store, StoreError

    async def run() -> T:
        store = await Store.open(load_settings().database_url, recover_interrupted=False)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (SettingsError, StoreError, ValueError) as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (the server also applies them when it starts)."""

    async def upgrade(store: Store) -> tuple[str, str | None]:
        await store.upgrade()
        return store.display_url, await store.revision()

    where, revision = _with_store(upgrade)
    out.print(f"Database {escape(where)} is at revision {revision} (the latest).")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A name to recognise the key by, e.g. who uses it.")],
) -> None:
    """Make a key. It is printed once, on its own line, and cannot be shown again."""
    record, plain = _with_store(lambda store: store.create_api_key(name))
    err.print(
        f"Created key {escape(repr(record.name))} ({record.id}). Copy it now: it cannot be shown again."
    )
    # Alone on stdout, so `KEY=$(llmrelay keys create ci)` works.
    print(plain)


@keys_app.command("list")
def keys_list() -> None:
    """The keys, oldest first."""
    keys = _with_store(lambda store: store.list_api_keys())
    if not keys:
        out.print("No API keys yet; make one with `llmrelay keys create NAME`.")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("id", no_wrap=True)  # never cut: it is what `keys revoke` takes
    table.add_column("name")
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for key in keys:
        status = "revoked" if key.revoked else "active"
        table.add_row(key.id, escape(key.name), f"{key.created_at:%Y-%m-%d %H:%M}", status)
    out.print(table)


@keys_app.command("usage")
def keys_usage() -> None:
    """Requests and tokens per key (and without a key)."""
    rows = _with_store(lambda store: store.usage_by_key())
    table = Table(box=None, header_style="bold")
    for column in ("key", "requests", "tokens in", "tokens out"):
        table.add_column(column, justify="left" if column == "key" else "right")
    for row in rows:
        name = "(no key)" if row["api_key_id"] is None else escape(str(row["name"]))
        if row["revoked"]:
            name += " (revoked)"
        table.add_row(name, str(row["requests"]), str(row["input_tokens"]), str(row["output_tokens"]))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="The key's id or name.")],
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    if not _with_store(lambda store: store.revoke_api_key(key)):
        _fail(f"no active key has the id or name {key!r} (see `llmrelay keys list`).", code=1)
    out.print(f"Revoked {escape(repr(key))}.")

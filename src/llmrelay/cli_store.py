"""`llmrelay db …` and `llmrelay keys …`: the store from the command line.

These commands may run beside a live server, so they open the store without marking
`streaming` answers as interrupted (that is for a server starting up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmrelay.settings import SettingsError, load_settings

if TYPE_CHECKING:
    # Imported when a command runs: SQLAlchemy and Alembic need not slow down `llmrelay ask`.
    from llmrelay.store import ApiKeyRecord, Store

T = TypeVar("T")

db_app = typer.Typer(help="The database (LLMRELAY_DATABASE_URL).", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys for the gateway: only their sha256 hashes are stored.", no_args_is_help=True
)
# soft_wrap: a long URL or id stays on one line, to be copied whole.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _wide(width: int) -> Console:
    """stdout at least `width` wide: a table's columns are never cut (an id is what other
    commands take), even on a narrow terminal or through a pipe (80 columns)."""
    return Console(highlight=False, soft_wrap=True, width=max(out.width, width))


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


# The limit flags, shared by `keys create` and `keys limits`: 0 means no limit of its own.
RpmOpt = Annotated[int | None, typer.Option("--rpm", min=0, help="Requests per minute (0: no limit).")]
TpmOpt = Annotated[
    int | None, typer.Option("--tpm", min=0, help="Tokens (input + output) per minute (0: no limit).")
]
StreamsOpt = Annotated[
    int | None, typer.Option("--max-streams", min=0, help="Answers at once (0: no limit).")
]
BudgetOpt = Annotated[
    int | None,
    typer.Option("--budget-tokens", min=0, help="Token budget, input + output (0: no budget)."),
]
PeriodOpt = Annotated[
    str | None,
    typer.Option("--budget-period", help="What the budget covers: total (default) or month (UTC)."),
]


def _limit_changes(
    rpm: int | None, tpm: int | None, max_streams: int | None, budget: int | None, period: str | None
) -> dict[str, int | str | None]:
    given = {"rpm": rpm, "tpm": tpm, "max_streams": max_streams, "budget_tokens": budget}
    changes: dict[str, int | str | None] = {k: v for k, v in given.items() if v is not None}
    if period is not None:
        changes["budget_period"] = period
    return changes


def _show_key_logs() -> None:
    """The store logs one line per key created, revoked or changed: show it on stderr."""
    from llmrelay.logs import configure_logging

    try:
        configure_logging(load_settings().log_level)
    except SettingsError:
        pass  # _with_store reports it


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A name to recognise the key by, e.g. who uses it.")],
    admin: Annotated[bool, typer.Option("--admin", help="May use the admin API (/admin).")] = False,
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_streams: StreamsOpt = None,
    budget_tokens: BudgetOpt = None,
    budget_period: PeriodOpt = None,
) -> None:
    """Make a key. It is printed once, on its own line, and cannot be shown again."""
    from llmrelay.store import KeyLimits
    from llmrelay.store.keys import check_limits

    _show_key_logs()
    changes = _limit_changes(rpm, tpm, max_streams, budget_tokens, budget_period)

    async def create(store: Store) -> tuple[ApiKeyRecord, str]:
        limits = check_limits(KeyLimits(**changes))  # type: ignore[arg-type]
        return await store.create_api_key(name, is_admin=admin, limits=limits)

    record, plain = _with_store(create)
    kind = "admin key" if record.is_admin else "key"
    err.print(
        f"Created {kind} {escape(repr(record.name))} ({record.id}, {escape(record.shown_prefix)}, "
        f"limits: {record.limits.describe()}). Copy it now: it cannot be shown again."
    )
    # Alone on stdout's last line, so `KEY=$(llmrelay keys create ci)` works.
    print(plain)


@keys_app.command("limits")
def keys_limits(
    key: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="The key's id or name.")],
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    max_streams: StreamsOpt = None,
    budget_tokens: BudgetOpt = None,
    budget_period: PeriodOpt = None,
) -> None:
    """Change a key's limits: only those given; 0 means no limit of its own (the
    LLMRELAY_DEFAULT_* setting applies). A serving llmrelay applies them within 2 s."""
    _show_key_logs()
    changes = _limit_changes(rpm, tpm, max_streams, budget_tokens, budget_period)
    if not changes:
        _fail("name at least one limit: --rpm, --tpm, --max-streams, --budget-tokens or --budget-period.")
    record = _with_store(lambda store: store.set_api_key_limits(key, changes))
    if record is None:
        _fail(f"no active key has the id or name {key!r} (see `llmrelay keys list`).", code=1)
        return
    out.print(
        f"Limits of {escape(repr(record.name))} ({escape(record.shown_prefix)}): {record.limits.describe()}"
    )


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
    table.add_column("prefix", no_wrap=True)
    table.add_column("admin", no_wrap=True)
    table.add_column("limits", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for key in keys:
        status = "revoked" if key.revoked else "active"
        table.add_row(
            key.id,
            escape(key.name),
            escape(f"{key.prefix}…" if key.prefix else "-"),
            "admin" if key.is_admin else "",
            key.limits.describe(),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            status,
        )
    # Never cut a column (an id is what other commands take): wider than a narrow terminal.
    _wide(180).print(table)


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--since takes a date as YYYY-MM-DD, not {value!r}.")
        raise  # unreachable: _fail exits


@keys_app.command("usage")
def keys_usage(
    since: Annotated[
        str | None, typer.Option("--since", metavar="DATE", help="From this day on (YYYY-MM-DD, UTC).")
    ] = None,
) -> None:
    """Requests and tokens in and out per key, model and day (UTC)."""
    first = _since(since)
    rows = _with_store(lambda store: store.usage_by_day(first))
    if not rows:
        out.print("No usage recorded" + (f" since {first}." if first else " yet."))
        return
    table = Table(box=None, header_style="bold")
    for column in ("day", "key", "model", "requests", "tokens in", "tokens out"):
        table.add_column(column, justify="right" if column.startswith(("req", "tok")) else "left")
    for row in rows:
        table.add_row(
            f"{row.day}",
            escape(tenant_name(row.owner, row.key_name)),
            escape(row.model),
            str(row.requests),
            str(row.input_tokens),
            str(row.output_tokens),
        )
    _wide(140).print(table)


def tenant_name(owner: str, key_name: str | None) -> str:
    """How usage names whom it belongs to: the key's name, or which kind of no stored key."""
    if key_name is not None:
        return key_name
    if owner.startswith("env_"):
        return f"(environment key {owner[:12]}…)"
    if owner.startswith("key_"):
        return f"(deleted key {owner})"
    return "(no key)"


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(metavar="ID_OR_NAME", help="The key's id or name.")],
) -> None:
    """Revoke a key: requests with it are refused from now on (within 2 s on a serving llmrelay)."""
    _show_key_logs()
    if not _with_store(lambda store: store.revoke_api_key(key)):
        _fail(f"no active key has the id or name {key!r} (see `llmrelay keys list`).", code=1)
    out.print(f"Revoked {escape(repr(key))}.")

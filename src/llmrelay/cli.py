"""`llmrelay serve`, `llmrelay ask`: the command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llmrelay.cli_store import db_app, keys_app
from llmrelay.settings import Settings, SettingsError, env_name, load_settings
from llmrelay.store.base import StoreError

app = typer.Typer(
    name="llmrelay",
    help="Stream a language model's answers to people and programs over Server-Sent Events.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
err = Console(stderr=True, highlight=False)


def settings_help() -> str:
    lines = ["Settings (environment variables, or a .env file in the working directory):", ""]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default is not None else "unset"
        lines.append(f"  {env_name(name)} (default {default}): {field.description}")
    return "\n\n".join(lines)


app.info.epilog = settings_help()


def _fail(message: str) -> None:
    # The message is text, not markup: a models-file error quotes `[[models]]`.
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (LLMRELAY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (LLMRELAY_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Processes serving the same port; more than 1 needs LLMRELAY_REDIS_URL."),
    ] = 1,
) -> None:
    """Serve the page and the API."""
    settings = _settings(host=host, port=port)
    if workers > 1 and settings.redis_url is None:
        _fail(
            f"--workers {workers} needs LLMRELAY_REDIS_URL: without Redis, a resumed or cancelled "
            "answer would reach a process that never saw it."
        )
    try:
        if workers > 1:
            _run_workers(settings, workers)
        else:
            _run_server(settings)
    except (SettingsError, StoreError) as exc:
        _fail(str(exc))


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _run_server(settings: Settings) -> None:
    """Load the models and open the store, then serve, all in the server's own event loop.

    Both happen before the socket is bound, so a bad setting, models file or database URL is
    one sentence (SettingsError / StoreError), not a traceback from inside the server; and
    what was built is handed to the app instead of being built twice.
    """
    import uvicorn

    from llmrelay.app import create_app
    from llmrelay.logs import configure_logging
    from llmrelay.runtime import Runtime

    async def main() -> None:
        configure_logging(settings.log_level)  # before the store and models log their start
        runtime = await Runtime.open(settings)
        try:
            stored_keys = sum(1 for key in await runtime.store.list_api_keys() if not key.revoked)
        except BaseException:
            await runtime.aclose()
            raise
        _warn_if_open(settings, stored_keys)
        config = uvicorn.Config(
            create_app(settings, runtime=runtime),
            host=settings.host,
            port=settings.port,
            log_config=None,
            timeout_graceful_shutdown=5,
        )
        await uvicorn.Server(config).serve()

    # uvloop when installed, as `uvicorn.run` would pick it.
    loop_factory = uvicorn.Config(
        app="llmrelay.app:create_app", loop="auto", log_config=None
    ).get_loop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        # uvicorn shuts down gracefully on Ctrl-C, then raises the signal again: that is a
        # normal stop, not an error (as `uvicorn.run` treats it).
        with contextlib.suppress(KeyboardInterrupt):
            runner.run(main())


def _warn_if_open(settings: Settings, stored_keys: int) -> None:
    if settings.host not in LOOPBACK_HOSTS and not settings.env_api_keys() and not stored_keys:
        err.print(
            f"[bold yellow]warning:[/] serving on {settings.host} with no API keys: anyone who "
            "can reach this address can use the models and read the conversations. Set "
            "LLMRELAY_API_KEYS or run `llmrelay keys create NAME`.",
            soft_wrap=True,
        )


async def _check_redis(settings: Settings) -> None:
    from llmrelay.streams_redis import connect

    redis = await connect(settings)  # one SettingsError sentence when it cannot be used
    await redis.aclose()


def _run_workers(settings: Settings, workers: int) -> None:
    """N processes on one port (uvicorn's supervisor), each building its app from the settings.

    Checked here first, in one process, so a mistake is one sentence and not N tracebacks: the
    settings and the models file, Redis, and the database (migrated once, here). SQLite is
    allowed: its file is shared safely by processes on one host (WAL, write lock taken up
    front, a busy timeout); instances on several hosts need PostgreSQL (README).
    """
    import uvicorn

    from llmrelay.logs import configure_logging
    from llmrelay.models import load_models_file
    from llmrelay.store import Store

    async def check() -> int:
        configure_logging(settings.log_level)
        await _check_redis(settings)
        store = await Store.open(settings.database_url, recover_interrupted=False)
        try:
            return sum(1 for key in await store.list_api_keys() if not key.revoked)
        finally:
            await store.close()

    if settings.models_file is not None:
        load_models_file(settings.models_file, settings)
    stored_keys = asyncio.run(check())
    _warn_if_open(settings, stored_keys)
    # Each worker reads its settings as this process did: the environment and .env, with
    # --host / --port passed on through the environment.
    os.environ["LLMRELAY_HOST"] = settings.host
    os.environ["LLMRELAY_PORT"] = str(settings.port)
    uvicorn.run(
        "llmrelay.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        timeout_graceful_shutdown=5,
    )


@app.command()
def ask(
    message: Annotated[str, typer.Argument(help="The prompt.")],
    conversation: Annotated[
        str | None, typer.Option("--conversation", "-c", help="Continue this conversation (its id).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Ask this model (a name from LLMRELAY_MODELS_FILE); default: the first."
        ),
    ] = None,
) -> None:
    """Ask a configured model and stream the answer to the terminal (kept as a conversation)."""
    from llmrelay.ask import ask_model
    from llmrelay.store import StoreError

    settings = _settings()
    if not message.strip():
        _fail("the message must not be empty.")
    try:
        code = asyncio.run(
            ask_model(settings, message, out=sys.stdout, conversation_id=conversation, model=model)
        )
    except (SettingsError, StoreError) as exc:
        _fail(str(exc))
        return
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code)


@app.command()
def conversations(
    limit: Annotated[int, typer.Option(min=1, help="How many, most recent first.")] = 20,
) -> None:
    """List the stored conversations, most recent first."""
    from rich.table import Table

    from llmrelay.ask import list_conversations
    from llmrelay.store import StoreError

    settings = _settings()
    try:
        rows = asyncio.run(list_conversations(settings, limit=limit))
    except (SettingsError, StoreError) as exc:
        _fail(str(exc))
        return
    table = Table("id", "title", "updated (UTC)", box=None)
    for row in rows:
        table.add_row(*row)
    Console(highlight=False).print(table)


def main() -> None:
    app()

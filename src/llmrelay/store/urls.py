"""Database URLs: the user's spelling -> an async driver URL, and a form that is safe to show.

Users write `postgresql://…` or `sqlite:///file.db` as every other tool accepts them; the store
needs the async drivers (asyncpg, aiosqlite), so the plain forms are mapped. A URL may carry a
password, so nothing here ever puts the raw string into a message: `display_url` masks it.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from llmrelay.settings import SettingsError

DEFAULT_URL = "sqlite+aiosqlite:///./llmrelay.db"

# Spellings we accept -> the async driver we run them with.
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",  # Heroku-style URLs
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class DatabaseUrlError(SettingsError):
    """LLMRELAY_DATABASE_URL cannot be used; the message never contains the password."""


def database_url(value: str | None) -> URL:
    """The async-driver URL for `value` (None or blank: the SQLite file llmrelay.db here)."""
    text = (value or "").strip() or DEFAULT_URL
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        # SQLAlchemy's own message repeats the string, password and all.
        raise DatabaseUrlError(
            "LLMRELAY_DATABASE_URL is not a database URL; expected e.g. "
            "sqlite:///llmrelay.db or postgresql+asyncpg://user:password@host/dbname."
        ) from None
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise DatabaseUrlError(
            f"LLMRELAY_DATABASE_URL uses {url.drivername!r}, which llmrelay does not support; "
            "use sqlite:// (sqlite+aiosqlite://) or postgresql:// (postgresql+asyncpg://)."
        )
    if driver.startswith("postgresql") and not url.database:
        raise DatabaseUrlError(
            f"LLMRELAY_DATABASE_URL ({display_url(url)}) names no database; add /dbname at the end."
        )
    return url.set(drivername=driver)


def display_url(url: URL | str) -> str:
    """The URL with its password replaced by ***, for logs and error messages."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except (ArgumentError, ValueError):
            return "<unparseable database URL>"
    return url.render_as_string(hide_password=True)


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_memory_sqlite(url: URL) -> bool:
    return is_sqlite(url) and url.database in (None, "", ":memory:")

"""API keys in the store: made, listed, limited, revoked, looked up by the key itself.

Only a sha256 hash of a key is stored, and its first characters (`sk-llmrelay-ab12`) to tell
keys apart in lists and logs; the key itself is returned once by `create_api_key`. Every
create, revoke and limit change is one log line naming the key by id, name and prefix, never
the key: the CLI and the admin API both come through here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from llmrelay.store.base import StoreBase
from llmrelay.store.records import (
    API_KEY_PREFIX,
    BUDGET_PERIODS,
    KEY_NAME_MAX_CHARS,
    LIMIT_FIELDS,
    ApiKeyRecord,
    KeyLimits,
    new_id,
    utcnow,
    visible_prefix,
)
from llmrelay.store.tables import api_keys

log = logging.getLogger("llmrelay.keys")

# The largest limit a column holds everywhere (PostgreSQL's integer).
LIMIT_MAX = 2**31 - 1


class KeyStore(StoreBase):
    async def create_api_key(
        self, name: str, *, is_admin: bool = False, limits: KeyLimits | None = None
    ) -> tuple[ApiKeyRecord, str]:
        """A new key: the record, and the key itself, which exists only in this return value."""
        name = name.strip()
        if not name or len(name) > KEY_NAME_MAX_CHARS or not name.isprintable():
            raise ValueError(f"a key's name is 1 to {KEY_NAME_MAX_CHARS} printable characters")
        limits = check_limits(limits or KeyLimits())
        plain = API_KEY_PREFIX + secrets.token_hex(24)
        record = ApiKeyRecord(
            id=new_id("key"),
            name=name,
            prefix=visible_prefix(plain),
            is_admin=is_admin,
            limits=limits,
            created_at=utcnow(),
        )
        async with self._write() as conn:
            taken = await conn.scalar(
                select(api_keys.c.id).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            )
            if taken is not None:
                raise ValueError(f"a key named {name!r} exists; revoke it first or choose another name")
            await conn.execute(insert(api_keys).values(key_hash=hash_key(plain), **_key_values(record)))
        log.info(
            "api key created: id=%s name=%r prefix=%s admin=%s %s",
            record.id,
            record.name,
            record.shown_prefix,
            record.is_admin,
            limits.describe(),
        )
        return record, plain

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        query = select(*_KEY_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        async with self._engine.connect() as conn:
            return [key_record(row) for row in (await conn.execute(query)).mappings()]

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id))).mappings().first()
            )
        return None if row is None else key_record(row)

    async def revoke_api_key(self, key_id_or_name: str) -> bool:
        """Revoke the active key with this id or name; False if there is none."""
        async with self._write() as conn:
            found = await _active_key(conn, key_id_or_name)
            if found is None:
                return False
            await conn.execute(update(api_keys).where(api_keys.c.id == found.id).values(revoked_at=utcnow()))
        log.info("api key revoked: id=%s name=%r prefix=%s", found.id, found.name, found.shown_prefix)
        return True

    async def set_api_key_limits(
        self, key_id_or_name: str, changes: Mapping[str, int | str | None]
    ) -> ApiKeyRecord | None:
        """Change some of an active key's limits (`rpm`, `tpm`, `max_streams`, `budget_tokens`:
        a number, or None / 0 for none of its own; `budget_period`: total or month). Returns the
        key as it is now, or None when no active key has that id or name."""
        unknown = set(changes) - {*LIMIT_FIELDS, "budget_period"}
        if unknown:
            raise ValueError(f"not a limit: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "budget_period":
                values[name] = value
            else:
                values[name] = None if value in (None, 0) else value
        async with self._write() as conn:
            found = await _active_key(conn, key_id_or_name)
            if found is None:
                return None
            merged = check_limits(KeyLimits(**{**_limit_values(found.limits), **values}))
            await conn.execute(
                update(api_keys).where(api_keys.c.id == found.id).values(**_limit_values(merged))
            )
        log.info(
            "api key limits changed: id=%s name=%r prefix=%s %s -> %s",
            found.id,
            found.name,
            found.shown_prefix,
            found.limits.describe(),
            merged.describe(),
        )
        return dataclasses.replace(found, limits=merged)

    async def find_api_key(self, plain_key: str) -> ApiKeyRecord | None:
        """The active key whose hash matches, or None (unknown, malformed or revoked)."""
        if not plain_key.startswith(API_KEY_PREFIX) or len(plain_key) > 200:
            return None
        query = select(*_KEY_COLUMNS).where(
            api_keys.c.key_hash == hash_key(plain_key), api_keys.c.revoked_at.is_(None)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else key_record(row)


_KEY_COLUMNS = tuple(column for column in api_keys.c if column.name != "key_hash")


def hash_key(plain_key: str) -> str:
    return hashlib.sha256(plain_key.encode()).hexdigest()


def check_limits(limits: KeyLimits) -> KeyLimits:
    """Limits as stored: whole numbers from 1 up (0 is stored as None: none of its own)."""
    values = _limit_values(limits)
    for name in LIMIT_FIELDS:
        value = values[name]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LIMIT_MAX:
            raise ValueError(f"{name} is a whole number from 0 (no limit) to {LIMIT_MAX}, not {value!r}")
        if value == 0:
            values[name] = None
    if values["budget_period"] not in BUDGET_PERIODS:
        raise ValueError(f"budget_period is total or month, not {values['budget_period']!r}")
    return KeyLimits(**values)


def key_record(row: Mapping[Any, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        is_admin=bool(row["is_admin"]),
        limits=KeyLimits(
            rpm=row["rpm"],
            tpm=row["tpm"],
            max_streams=row["max_streams"],
            budget_tokens=row["budget_tokens"],
            budget_period=row["budget_period"],
        ),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _limit_values(limits: KeyLimits) -> dict[str, Any]:
    return {name: getattr(limits, name) for name in (*LIMIT_FIELDS, "budget_period")}


def _key_values(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "is_admin": record.is_admin,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
        **_limit_values(record.limits),
    }


async def _active_key(conn: AsyncConnection, key_id_or_name: str) -> ApiKeyRecord | None:
    query = select(*_KEY_COLUMNS).where(
        api_keys.c.revoked_at.is_(None),
        (api_keys.c.id == key_id_or_name) | (api_keys.c.name == key_id_or_name),
    )
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else key_record(row)

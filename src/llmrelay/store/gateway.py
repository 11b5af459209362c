"""The gateway's tables (issue 4): /v1/responses records, API keys and usage per key.

API keys are stored as sha256 hashes only: the key itself is returned once by
`create_api_key` and cannot be recovered from the database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, select, update

from llmrelay.store.base import StoreBase
from llmrelay.store.records import (
    API_KEY_PREFIX,
    KEY_NAME_MAX_CHARS,
    ApiKeyRecord,
    ResponseRecord,
    UsageRow,
    new_id,
    utcnow,
)
from llmrelay.store.tables import api_keys, responses, usage


class GatewayStore(StoreBase):
    async def save_response(self, record: ResponseRecord) -> None:
        """Insert, or replace the response with the same id."""
        values = _response_values(record)
        async with self._write() as conn:
            replaced = await conn.execute(
                update(responses).where(responses.c.id == record.id).values(**values)
            )
            if replaced.rowcount == 0:
                await conn.execute(insert(responses).values(**values))

    async def get_response(self, response_id: str) -> ResponseRecord | None:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(select(responses).where(responses.c.id == response_id)))
                .mappings()
                .first()
            )
        return None if row is None else ResponseRecord(**row)

    # -- API keys and usage ----------------------------------------------------------------

    async def create_api_key(self, name: str) -> tuple[ApiKeyRecord, str]:
        """A new key: the record, and the key itself, which exists only in this return value."""
        name = name.strip()
        if not name or len(name) > KEY_NAME_MAX_CHARS or not name.isprintable():
            raise ValueError(f"a key's name is 1 to {KEY_NAME_MAX_CHARS} printable characters")
        plain = API_KEY_PREFIX + secrets.token_hex(24)
        record = ApiKeyRecord(id=new_id("key"), name=name, created_at=utcnow(), revoked_at=None)
        async with self._write() as conn:
            taken = await conn.scalar(
                select(api_keys.c.id).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            )
            if taken is not None:
                raise ValueError(f"a key named {name!r} exists; revoke it first or choose another name")
            await conn.execute(
                insert(api_keys).values(
                    id=record.id, name=name, key_hash=hash_key(plain), created_at=record.created_at
                )
            )
        return record, plain

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        query = select(*_KEY_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.id)
        async with self._engine.connect() as conn:
            return [ApiKeyRecord(**row) for row in (await conn.execute(query)).mappings()]

    async def revoke_api_key(self, key_id_or_name: str) -> bool:
        """Revoke the active key with this id or name; False if there is none."""
        async with self._write() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(
                    api_keys.c.revoked_at.is_(None),
                    (api_keys.c.id == key_id_or_name) | (api_keys.c.name == key_id_or_name),
                )
                .values(revoked_at=utcnow())
            )
        return result.rowcount > 0

    async def find_api_key(self, plain_key: str) -> ApiKeyRecord | None:
        """The active key whose hash matches, or None (unknown, malformed or revoked)."""
        if not plain_key.startswith(API_KEY_PREFIX) or len(plain_key) > 200:
            return None
        query = select(*_KEY_COLUMNS).where(
            api_keys.c.key_hash == hash_key(plain_key), api_keys.c.revoked_at.is_(None)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else ApiKeyRecord(**row)

    async def record_usage(
        self,
        *,
        api_key_id: str | None,
        route: str,
        model: str,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        await self.record_usage_many(
            [
                UsageRow(
                    api_key_id=api_key_id,
                    route=route,
                    model=model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    created_at=utcnow(),
                )
            ]
        )

    async def record_usage_many(self, rows: Sequence[UsageRow]) -> None:
        """Many answers' usage in one transaction (the server batches them; see usage.py)."""
        if not rows:
            return
        async with self._write() as conn:
            await conn.execute(insert(usage), [dataclasses.asdict(row) for row in rows])

    async def usage_by_key(self) -> list[dict[str, Any]]:
        """Totals per key, oldest key first, keys without usage included; requests made
        without a key come last as api_key_id None. Each: api_key_id, name, revoked,
        requests, input_tokens, output_tokens."""
        totals = select(
            usage.c.api_key_id,
            func.count().label("requests"),
            func.coalesce(func.sum(usage.c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(usage.c.output_tokens), 0).label("output_tokens"),
        ).group_by(usage.c.api_key_id)
        async with self._engine.connect() as conn:
            by_key = {row["api_key_id"]: row for row in (await conn.execute(totals)).mappings()}
            keys = (
                (await conn.execute(select(*_KEY_COLUMNS).order_by(api_keys.c.created_at))).mappings().all()
            )
        rows = [
            _usage_row(key["id"], key["name"], key["revoked_at"] is not None, by_key.get(key["id"]))
            for key in keys
        ]
        if None in by_key:
            rows.append(_usage_row(None, None, False, by_key[None]))
        return rows


_KEY_COLUMNS = (api_keys.c.id, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at)


def hash_key(plain_key: str) -> str:
    return hashlib.sha256(plain_key.encode()).hexdigest()


def _response_values(record: ResponseRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in responses.c.keys()}


def _usage_row(
    key_id: str | None, name: str | None, revoked: bool, totals: Mapping[Any, Any] | None
) -> dict[str, Any]:
    return {
        "api_key_id": key_id,
        "name": name,
        "revoked": revoked,
        "requests": int(totals["requests"]) if totals else 0,
        "input_tokens": int(totals["input_tokens"]) if totals else 0,
        "output_tokens": int(totals["output_tokens"]) if totals else 0,
    }

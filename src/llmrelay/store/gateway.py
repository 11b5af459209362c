"""The gateway's tables: /v1/responses records, and usage per key (API keys: keys.py).

A response belongs to the tenant that made it: `get_response` with another owner finds
nothing, exactly as for an id that does not exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, insert, select, update

from llmrelay.store.keys import KeyStore
from llmrelay.store.records import Owner, ResponseRecord, UsageRow, utcnow
from llmrelay.store.tables import api_keys, responses, usage


@dataclasses.dataclass(frozen=True, kw_only=True)
class UsageDay:
    """Requests and tokens of one tenant with one model on one day (UTC)."""

    day: date
    owner: str
    api_key_id: str | None
    key_name: str | None  # None: not a stored key (an env key, or no key)
    model: str
    requests: int
    input_tokens: int
    output_tokens: int


class GatewayStore(KeyStore):
    async def save_response(self, record: ResponseRecord) -> None:
        """Insert, or replace the response with the same id."""
        values = _response_values(record)
        async with self._write() as conn:
            replaced = await conn.execute(
                update(responses).where(responses.c.id == record.id).values(**values)
            )
            if replaced.rowcount == 0:
                await conn.execute(insert(responses).values(**values))

    async def get_response(self, owner: Owner, response_id: str) -> ResponseRecord | None:
        query = select(responses).where(responses.c.id == response_id, responses.c.owner == owner)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else ResponseRecord(**row)

    # -- usage -----------------------------------------------------------------------------

    async def record_usage(
        self,
        *,
        api_key_id: str | None,
        route: str,
        model: str,
        input_tokens: int | None,
        output_tokens: int | None,
        owner: Owner,
    ) -> None:
        await self.record_usage_many(
            [
                UsageRow(
                    api_key_id=api_key_id,
                    owner=owner,
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

    async def tokens_spent(self, owner: Owner, since: datetime | None = None) -> int:
        """Input + output tokens the owner's answers cost (since `since`, or ever): budgets."""
        query = select(
            func.coalesce(
                func.sum(func.coalesce(usage.c.input_tokens, 0) + func.coalesce(usage.c.output_tokens, 0)), 0
            )
        ).where(usage.c.owner == owner)
        if since is not None:
            query = query.where(usage.c.created_at >= since)
        async with self._engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def usage_by_day(self, since: date | None = None) -> list[UsageDay]:
        """Requests and tokens per tenant, model and UTC day, oldest day first."""
        day = self._utc_day(usage.c.created_at).label("day")
        query = (
            select(
                day,
                usage.c.owner,
                usage.c.api_key_id,
                api_keys.c.name,
                usage.c.model,
                func.count().label("requests"),
                func.coalesce(func.sum(usage.c.input_tokens), 0).label("input_tokens"),
                func.coalesce(func.sum(usage.c.output_tokens), 0).label("output_tokens"),
            )
            .select_from(usage.outerjoin(api_keys, api_keys.c.id == usage.c.api_key_id))
            .group_by(day, usage.c.owner, usage.c.api_key_id, api_keys.c.name, usage.c.model)
            .order_by(day, usage.c.owner, usage.c.model)
        )
        if since is not None:
            query = query.where(
                usage.c.created_at >= datetime(since.year, since.month, since.day, tzinfo=UTC)
            )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            UsageDay(
                day=_as_date(row["day"]),
                owner=row["owner"],
                api_key_id=row["api_key_id"],
                key_name=row["name"],
                model=row["model"],
                requests=int(row["requests"]),
                input_tokens=int(row["input_tokens"]),
                output_tokens=int(row["output_tokens"]),
            )
            for row in rows
        ]

    def _utc_day(self, column: Any) -> ColumnElement[Any]:
        # SQLite keeps UTC without a zone: date() of the text is the UTC day. PostgreSQL keeps
        # timestamptz: the day depends on the session's zone unless it is named.
        if self.backend == "sqlite":
            return func.date(column)
        return cast(func.timezone("UTC", column), Date)

    async def usage_by_key(self) -> list[dict[str, Any]]:
        """Totals per key, oldest key first, keys without usage included; requests made
        without a stored key come last as api_key_id None. Each: api_key_id, name, revoked,
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
                (
                    await conn.execute(
                        select(api_keys.c.id, api_keys.c.name, api_keys.c.revoked_at).order_by(
                            api_keys.c.created_at
                        )
                    )
                )
                .mappings()
                .all()
            )
        rows = [
            _usage_row(key["id"], key["name"], key["revoked_at"] is not None, by_key.get(key["id"]))
            for key in keys
        ]
        if None in by_key:
            rows.append(_usage_row(None, None, False, by_key[None]))
        return rows


def _as_date(value: Any) -> date:
    # SQLite's date() gives text, PostgreSQL's cast a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


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

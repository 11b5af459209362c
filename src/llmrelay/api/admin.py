"""The admin API under /admin: keys (make, list, read, set limits, revoke) and usage of all keys.

Only for admin keys (`llmrelay keys create NAME --admin`). To anyone else, an ordinary key or a
server without keys, every /admin route answers exactly as a route that does not exist (404
`Not Found`): nothing says there is something to try. It does what `llmrelay keys` does, through
the same store methods, so each action is one log line naming the key by its prefix, and the
CLI sees the result (and the other way round).

A change made here takes effect on this process's next request (the key cache is dropped); a
change made with the CLI within 2 s (the cache's lifetime).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from llmrelay.api.deps import runtime_of
from llmrelay.auth import current_caller
from llmrelay.runtime import Runtime
from llmrelay.store import ApiKeyRecord, KeyLimits, Store
from llmrelay.store.keys import LIMIT_MAX, check_limits
from llmrelay.store.records import KEY_NAME_MAX_CHARS


async def _admin_only(request: Request) -> None:
    if not current_caller(request).is_admin:
        raise HTTPException(404, "Not Found")


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(_admin_only)])

Limit = Annotated[int | None, Field(ge=0, le=LIMIT_MAX, description="0 or null: no limit of its own.")]


class LimitsIn(BaseModel):
    rpm: Limit = None
    tpm: Limit = None
    max_streams: Limit = None
    budget_tokens: Limit = None
    budget_period: Literal["total", "month"] | None = Field(
        None, description="What budget_tokens covers: total, or each calendar month (UTC)."
    )


class KeyIn(LimitsIn):
    name: str = Field(min_length=1, max_length=KEY_NAME_MAX_CHARS, examples=["billing-service"])
    admin: bool = Field(False, description="May use the admin API.")


class LimitsOut(BaseModel):
    rpm: int | None = Field(description="Its own limit; null: the LLMRELAY_DEFAULT_* setting applies.")
    tpm: int | None
    max_streams: int | None
    budget_tokens: int | None
    budget_period: str


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str | None = Field(description="The key's first characters, to tell keys apart.")
    admin: bool
    limits: LimitsOut
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyOut:
        limits = record.limits
        return cls(
            id=record.id,
            name=record.name,
            prefix=f"{record.prefix}…" if record.prefix else None,
            admin=record.is_admin,
            limits=LimitsOut(
                rpm=limits.rpm,
                tpm=limits.tpm,
                max_streams=limits.max_streams,
                budget_tokens=limits.budget_tokens,
                budget_period=limits.budget_period,
            ),
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown this once, never stored.")


class UsageOut(BaseModel):
    day: date
    key_id: str | None = Field(description="The stored key; null for an environment key or no key.")
    key_name: str | None
    owner: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int


def _store(runtime: Runtime) -> Store:
    return runtime.store


def _changed(runtime: Runtime) -> None:
    runtime.auth.stored.forget()


def _unknown(key_id: str) -> HTTPException:
    return HTTPException(404, f"No key with id {key_id!r}.")


@router.get("/keys", response_model=list[KeyOut], summary="Every key, oldest first")
async def list_keys(request: Request) -> list[KeyOut]:
    return [KeyOut.of(k) for k in await _store(runtime_of(request)).list_api_keys()]


@router.post("/keys", response_model=KeyCreated, status_code=201, summary="Make a key")
async def create_key(request: Request, body: KeyIn) -> KeyCreated:
    runtime = runtime_of(request)
    given = body.model_dump(exclude={"name", "admin"}, exclude_none=True)
    try:
        limits = check_limits(KeyLimits(**given))
        record, plain = await _store(runtime).create_api_key(body.name, is_admin=body.admin, limits=limits)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    _changed(runtime)
    return KeyCreated(**KeyOut.of(record).model_dump(), key=plain)


@router.get("/keys/{key_id}", response_model=KeyOut, summary="One key")
async def get_key(request: Request, key_id: str) -> KeyOut:
    record = await _store(runtime_of(request)).get_api_key(key_id)
    if record is None:
        raise _unknown(key_id)
    return KeyOut.of(record)


@router.patch(
    "/keys/{key_id}",
    response_model=KeyOut,
    summary="Change a key's limits (only those given)",
    responses={409: {"description": "The key is revoked."}},
)
async def set_limits(request: Request, key_id: str, body: LimitsIn) -> KeyOut:
    runtime = runtime_of(request)
    store = _store(runtime)
    found = await store.get_api_key(key_id)
    if found is None:
        raise _unknown(key_id)
    if found.revoked:
        raise HTTPException(409, f"Key {key_id!r} is revoked; its limits no longer matter.")
    changes = body.model_dump(exclude_unset=True)
    try:
        record = await store.set_api_key_limits(found.id, changes)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if record is None:  # revoked in between
        raise HTTPException(409, f"Key {key_id!r} is revoked; its limits no longer matter.")
    _changed(runtime)
    return KeyOut.of(record)


@router.delete("/keys/{key_id}", response_model=KeyOut, summary="Revoke a key")
async def revoke_key(request: Request, key_id: str) -> KeyOut:
    """Requests with it are refused from the next one on. Revoking a revoked key changes nothing."""
    runtime = runtime_of(request)
    store = _store(runtime)
    found = await store.get_api_key(key_id)
    if found is None:
        raise _unknown(key_id)
    if not found.revoked:
        await store.revoke_api_key(found.id)
        _changed(runtime)
    record = await store.get_api_key(key_id)
    assert record is not None
    return KeyOut.of(record)


@router.get("/usage", response_model=list[UsageOut], summary="Requests and tokens per key, model and day")
async def usage(
    request: Request,
    since: Annotated[date | None, Query(description="From this day on (YYYY-MM-DD, UTC).")] = None,
) -> list[UsageOut]:
    rows = await _store(runtime_of(request)).usage_by_day(since)
    return [
        UsageOut(
            day=row.day,
            key_id=row.api_key_id,
            key_name=row.key_name,
            owner=row.owner,
            model=row.model,
            requests=row.requests,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
        )
        for row in rows
    ]

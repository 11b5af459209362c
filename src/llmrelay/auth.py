"""API keys: `Authorization: Bearer <key>` (or `x-api-key: <key>`, as Anthropic's clients send
it) on every route but an explicit open list.

Keys come from two places: `LLMRELAY_API_KEYS` (compared in constant time) and the store
(`llmrelay keys create`; only a hash is kept, so a key is found by hashing what was sent).
While neither holds a key, the server is open, as it is on a laptop serving 127.0.0.1. Once
either does, a request without a valid key gets 401 (the error handlers give it OpenAI's
shape under /v1, Anthropic's under /v1/messages, `{"detail"}` elsewhere).

`guard` is installed app-wide and fails closed: every route needs a key except those whose
endpoint is marked `@open_route` (the page, health, metrics), so a router added later is
protected without anyone remembering to. The static files and the API's own description
(/openapi.json, /docs, /redoc) are not API routes, so no dependency runs for them: they are
open too (what the API is, never what it holds). A key never reaches a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from llmrelay.api.anthropic.errors import is_messages_path
from llmrelay.limiter import Tenant
from llmrelay.store import NO_KEY_OWNER, ApiKeyRecord, KeyLimits, Owner, Store, env_key_owner

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking. `key_id` is the stored key's id (None for an environment key); `owner`
    the tenant whose conversations, answers and responses it sees (records.Owner); `label`
    names it in messages and logs, never with the key itself."""

    key_id: str | None = None
    authenticated: bool = False
    owner: Owner = NO_KEY_OWNER
    is_admin: bool = False
    label: str = "no key"
    limits: KeyLimits = field(default_factory=KeyLimits)

    @property
    def tenant(self) -> Tenant | None:
        """Whom limits apply to; None without keys (a one-user server has no limits)."""
        return Tenant(self.owner, self.label, self.limits) if self.authenticated else None


ANONYMOUS = Caller()


def stored_key_caller(record: ApiKeyRecord) -> Caller:
    return Caller(
        key_id=record.id,
        authenticated=True,
        owner=record.owner,
        is_admin=record.is_admin,
        label=f"key {record.name!r} ({record.shown_prefix})",
        limits=record.limits,
    )


def env_key_caller(token: str) -> Caller:
    """An LLMRELAY_API_KEYS key: a tenant of its own, with the default limits."""
    owner = env_key_owner(token)
    return Caller(authenticated=True, owner=owner, label=f"environment key {owner[:12]}…")


def bearer_token(request: Request) -> str | None:
    """The key from `Authorization: Bearer <key>`; None when absent or another scheme."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def presented_key(request: Request) -> str | None:
    """The key a request carries: `Authorization: Bearer <key>`, else `x-api-key: <key>`
    (Claude Code and older Anthropic SDKs send that)."""
    token = bearer_token(request)
    if token is not None:
        return token
    return request.headers.get("x-api-key", "").strip() or None


def matches_env_key(token: str, keys: list[str]) -> bool:
    """Constant time per key, and every key is compared: no early exit to time."""
    sent = token.encode("utf-8")
    found = False
    for key in keys:
        found |= hmac.compare_digest(sent, key.encode("utf-8"))
    return found


class KeyLookup:
    """Answers about stored keys, remembered for `ttl_seconds`.

    Why: without it, every request to a guarded route asked the database whether any key
    exists (and looked its token up first): two queries per request, which under 10,000
    streams exhausted the connection pool (bench/notes.md). Keys are created and revoked by
    `llmrelay keys` in another process, so a change takes effect within `ttl_seconds`.
    """

    def __init__(self, store: Store, *, ttl_seconds: float = 2.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._any_key: tuple[float, bool] | None = None
        # sha256 of a token -> (when, the caller it named or None); tokens themselves are not kept.
        self._callers: dict[str, tuple[float, Caller | None]] = {}

    async def caller(self, token: str) -> Caller | None:
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        now = time.monotonic()
        cached = self._callers.get(digest)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        record = await self._store.find_api_key(token)
        caller = None if record is None or record.revoked else stored_key_caller(record)
        if len(self._callers) >= _MAX_CACHED_TOKENS:
            self._callers.clear()  # a flood of made-up tokens must not grow memory
        self._callers[digest] = (now, caller)
        return caller

    def forget(self) -> None:
        """Drop every remembered answer: a key changed in this process (the admin API) takes
        effect on the next request, not after the TTL."""
        self._callers.clear()
        self._any_key = None

    async def any_key(self) -> bool:
        now = time.monotonic()
        if self._any_key is None or now - self._any_key[0] >= self._ttl:
            active = any(not key.revoked for key in await self._store.list_api_keys())
            self._any_key = (now, active)
        return self._any_key[1]


_MAX_CACHED_TOKENS = 10_000


BEARER_HINT = "'Authorization: Bearer <key>'"
# What Anthropic's clients know to send.
API_KEY_HINT = "'x-api-key: <key>' (or 'Authorization: Bearer <key>')"


class Authenticator:
    """Whether keys are in force, and which caller a token names."""

    def __init__(self, env_keys: list[str], stored: KeyLookup) -> None:
        self.env_keys = env_keys
        self.stored = stored

    async def caller(self, token: str | None, *, hint: str = BEARER_HINT) -> Caller:
        """The caller a token names; 401 when keys are in force and it names none."""
        if token is not None:
            if self.env_keys and matches_env_key(token, self.env_keys):
                return env_key_caller(token)
            caller = await self.stored.caller(token)
            if caller is not None:
                return caller
        # Only now ask whether keys are needed at all: a valid key costs no extra lookup.
        if not self.env_keys and not await self.stored.any_key():
            return ANONYMOUS
        if token is None:
            raise HTTPException(
                401,
                f"Missing API key: send it as {hint}.",
                headers=CHALLENGE,
            )
        raise HTTPException(401, "Incorrect API key provided.", headers=CHALLENGE)


_OPEN = "_llmrelay_open_route"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def open_route(endpoint: Endpoint) -> Endpoint:
    """Mark a route's endpoint as callable without a key while keys are in force. Only the
    page (it asks for a key when the API answers 401), health and metrics are."""
    setattr(endpoint, _OPEN, True)
    return endpoint


def is_open(endpoint: object) -> bool:
    return getattr(endpoint, _OPEN, False) is True


async def guard(request: Request) -> None:
    """App-wide dependency: every route needs a key when keys are in force, unless its
    endpoint is marked `@open_route`. The mark is on the endpoint, not a path, so no prefix or
    path of a router added later can be open by accident."""
    if is_open(getattr(request.scope.get("route"), "endpoint", None)):
        return
    authenticator: Authenticator = request.app.state.runtime.auth
    # The scope's path, not `request.url`, which builds and parses a whole URL per request.
    hint = API_KEY_HINT if is_messages_path(request.scope["path"]) else BEARER_HINT
    request.state.caller = await authenticator.caller(presented_key(request), hint=hint)


def current_caller(request: Request) -> Caller:
    caller: Caller = getattr(request.state, "caller", ANONYMOUS)
    return caller

"""API keys for /v1, /api and the tutorial's /chat-*: `Authorization: Bearer <key>`.

Keys come from two places: `LLMRELAY_API_KEYS` (compared in constant time) and the store
(`llmrelay keys create`; only a hash is kept, so a key is found by hashing what was sent).
While neither holds a key, the server is open, as it is on a laptop serving 127.0.0.1. Once
either does, a request without a valid key gets 401 (the error handlers give it OpenAI's
shape under /v1, `{"detail"}` under /api).

`guard` is installed app-wide and checks only those paths, so a router added later is
covered without anyone remembering to add it. A key never reaches a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from llmrelay.relay import Relay, get_relay
from llmrelay.store import Store

log = logging.getLogger(__name__)

# Every route that reaches a model or a conversation. The page, its files, /healthz and
# /metrics stay open (the page asks for a key when the API answers 401).
PROTECTED_PREFIXES = ("/v1", "/api", "/chat-complete", "/chat-stream")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking. `key_id` is the stored key's id (None for an environment key)."""

    key_id: str | None = None
    authenticated: bool = False


ANONYMOUS = Caller()
ENV_KEY = Caller(key_id=None, authenticated=True)


def is_protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED_PREFIXES)


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

    def __init__(self, store: Store | None, *, ttl_seconds: float = 2.0) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._any_key: tuple[float, bool] | None = None
        # sha256 of a token -> (when, the caller it named or None); tokens themselves are not kept.
        self._callers: dict[str, tuple[float, Caller | None]] = {}

    async def caller(self, token: str) -> Caller | None:
        if self._store is None:
            return None
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        now = time.monotonic()
        cached = self._callers.get(digest)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        record = await self._store.find_api_key(token)
        caller = None if record is None or record.revoked else Caller(key_id=record.id, authenticated=True)
        if len(self._callers) >= _MAX_CACHED_TOKENS:
            self._callers.clear()  # a flood of made-up tokens must not grow memory
        self._callers[digest] = (now, caller)
        return caller

    async def any_key(self) -> bool:
        if self._store is None:
            return False
        now = time.monotonic()
        if self._any_key is None or now - self._any_key[0] >= self._ttl:
            active = any(not key.revoked for key in await self._store.list_api_keys())
            self._any_key = (now, active)
        return self._any_key[1]


_MAX_CACHED_TOKENS = 10_000


async def authenticate(relay: Relay, token: str | None) -> Caller:
    """The caller a token names; 401 when keys are in force and it names none."""
    env_keys = relay.settings.env_api_keys()
    stored = relay.key_lookup or KeyLookup(relay.store, ttl_seconds=0)
    if token is not None:
        if env_keys and matches_env_key(token, env_keys):
            return ENV_KEY
        caller = await stored.caller(token)
        if caller is not None:
            return caller
    # Only now ask whether keys are needed at all: a valid key costs no extra lookup.
    if not env_keys and not await stored.any_key():
        return ANONYMOUS
    if token is None:
        raise HTTPException(
            401,
            "Missing API key: send it as 'Authorization: Bearer <key>'.",
            headers=CHALLENGE,
        )
    raise HTTPException(401, "Incorrect API key provided.", headers=CHALLENGE)


async def guard(request: Request) -> None:
    """App-wide dependency: model and conversation routes need a key when keys are in force."""
    if not is_protected(request.url.path):
        return
    request.state.caller = await authenticate(get_relay(request), bearer_token(request))


def current_caller(request: Request) -> Caller:
    caller: Caller = getattr(request.state, "caller", ANONYMOUS)
    return caller


async def _caller_dependency(request: Request) -> Caller:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop per
    # request (bench/notes.md).
    return current_caller(request)


CallerDep = Annotated[Caller, Depends(_caller_dependency)]

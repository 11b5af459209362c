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

import hmac
import logging
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


async def _stored_key(store: Store, token: str) -> Caller | None:
    record = await store.find_api_key(token)
    if record is None or record.revoked:
        return None
    return Caller(key_id=record.id, authenticated=True)


async def _store_has_keys(store: Store) -> bool:
    # A handful of rows: read only when a request came without a valid key.
    return any(not key.revoked for key in await store.list_api_keys())


async def authenticate(relay: Relay, token: str | None) -> Caller:
    """The caller a token names; 401 when keys are in force and it names none."""
    env_keys = relay.settings.env_api_keys()
    store = relay.store
    if token is not None:
        if env_keys and matches_env_key(token, env_keys):
            return ENV_KEY
        if store is not None:
            caller = await _stored_key(store, token)
            if caller is not None:
                return caller
    # Only now ask whether keys are needed at all: a valid key costs no extra query.
    if not env_keys and (store is None or not await _store_has_keys(store)):
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


CallerDep = Annotated[Caller, Depends(current_caller)]

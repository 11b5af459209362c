"""The models a client may ask for by name: the registry behind `/v1/models` and `"model"`.

`LLMRELAY_MODELS_FILE` names a TOML file with one `[[models]]` table per model:

    [[models]]
    name = "fast"                   # what clients put in "model" (required, unique)
    provider = "openai-compatible"  # the kind (required): local | openai | openai-compatible | anthropic | scripted
    model = "llama3.2"              # then the keys of that kind (see README, "Several models")
    base_url = "http://127.0.0.1:11434/v1"

Each table is one kind's config (`llmrelay.providers.registry.ModelConfig`, a discriminated
union on `provider`), so the keys a kind takes are declared once, by its config class. The
first entry is the default model (the tutorial endpoints and the page use it). A mistake stops
start-up with one `SettingsError` naming the file, the entry and the key. Without the file, the
registry holds the one backend of the environment settings, under its model name.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from llmrelay.providers.base import Provider
from llmrelay.providers.config import ConfigContext, KindConfig
from llmrelay.providers.registry import ModelConfig, config_from_settings, describe
from llmrelay.settings import Settings, SettingsError

# Model names are kept with usage and responses; the store's column holds this many.
NAME_MAX_CHARS = 200


class ModelsFile(BaseModel):
    """The whole file: `[[models]]` tables and nothing else. (The rules about names, which
    hold across entries, are `load_models_file`'s.)"""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelConfig] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model as the file describes it, before it is built."""

    config: KindConfig
    # Where it came from, to prefix errors raised while building it.
    origin: str

    @property
    def name(self) -> str:
        return self.config.name


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
        config = config_from_settings(settings)
        return ModelRegistry.single(await config.build(settings))
    entries = load_models_file(settings.models_file, settings)
    built: dict[str, Provider] = {}
    try:
        for entry in entries:
            try:
                built[entry.name] = await entry.config.build(settings)
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
    # Relative paths in the file are relative to it, not to wherever the server started.
    context: ConfigContext = {"base_dir": path.parent, "settings": settings}
    try:
        parsed = ModelsFile.model_validate(document, context=context)
    except ValidationError as exc:
        raise SettingsError(_mistake(path, document, exc.errors()[0])) from None
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for number, config in enumerate(parsed.models, start=1):
        where = _where(path, number, config.name)
        problem = _name_problem(config.name)
        if problem is not None:
            raise SettingsError(f"{where}: {problem}")
        if config.name in seen:
            raise SettingsError(f"{where}: name {config.name!r} is used by an earlier entry.")
        seen.add(config.name)
        entries.append(ModelEntry(config=config, origin=where))
    return entries


def _mistake(path: Path, document: dict[str, Any], error: ErrorDetails) -> str:
    """pydantic's first error about the file, as one sentence naming file, entry and key."""
    loc = error["loc"]
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        table = document["models"][loc[1]]
        name = table.get("name") if isinstance(table, dict) else None
        kind = str(loc[2]) if len(loc) > 2 else None
        where = _where(path, loc[1] + 1, name)
        return f"{where}: {describe({**error, 'loc': loc[2:]}, kind)}"
    if loc and loc[0] != "models" and error["type"] == "extra_forbidden":
        return f"models file {path}: unknown top-level key {loc[0]!r} (only [[models]] tables belong here)."
    return f"models file {path}: no [[models]] tables; add at least one."


def _where(path: Path, number: int, name: object) -> str:
    where = f"models file {path}, entry {number}"
    if isinstance(name, str) and name.strip():
        where = f"{where} (name {name!r})"
    return where


def _name_problem(name: str) -> str | None:
    if not name.strip():
        return 'name is required (what clients put in "model").'
    if any(c.isspace() for c in name):
        return f"name {name!r} must not contain spaces."
    if len(name) > NAME_MAX_CHARS:
        return f"name is {len(name)} characters; at most {NAME_MAX_CHARS}."
    return None

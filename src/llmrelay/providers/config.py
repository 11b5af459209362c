"""What every provider kind's config shares: the base class and the checked field types.

A kind's config is a pydantic model with `provider: Literal["<kind>"]` and exactly the keys
that apply to it (anything else is refused: extra keys are forbidden). It is made from one
`[[models]]` table of the models file, or from the environment settings
(`from_settings`), and knows how to build its backend (`build`). Validation is strict: a TOML
`true` is not a number, `"5"` is not an integer.

Checks that need the outside world read the validation context (`ConfigContext`): where the
models file lives (relative paths are relative to it) and the settings (a fallback key). What
they find wrong is one sentence naming the key (`config_error`); `llmrelay.providers.registry`
words pydantic's own errors the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Self, TypedDict, cast
from urllib.parse import urlparse

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from llmrelay.providers.base import Provider
    from llmrelay.settings import Settings

# pydantic's error type for the sentences below; `registry.describe` passes them on as they are.
CONFIG_ERROR = "llmrelay_config"


class ConfigContext(TypedDict, total=False):
    """The validation context of a config: `Config.model_validate(data, context=...)`."""

    # The models file's folder: a relative `path` is relative to it (else to the working
    # directory).
    base_dir: Path
    # Read by checks that fall back to a setting (the key of `openai`); without them those
    # checks wait for `build`.
    settings: Settings


def config_error(sentence: str) -> PydanticCustomError:
    """An error whose message is `sentence`, shown as it is (it names its key itself)."""
    return PydanticCustomError(CONFIG_ERROR, "{sentence}", {"sentence": sentence})


def context_of(info: ValidationInfo) -> ConfigContext:
    # The context is whatever the caller passed to `model_validate`: a ConfigContext or None.
    return cast(ConfigContext, info.context or {})


def _http_url(value: str, info: ValidationInfo) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise config_error(f"{info.field_name} {value!r} must be an http:// or https:// URL.")
    return value


def _existing_file(value: str, info: ValidationInfo) -> str:
    base = context_of(info).get("base_dir", Path.cwd())
    path = (base / Path(value).expanduser()).resolve()
    if not path.is_file():
        raise config_error(f"{info.field_name}: no file at {path}.")
    return str(path)


def _env_name(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise config_error(f"{info.field_name} must name an environment variable.")
    return value


# An http(s) URL with a host.
HttpUrl = Annotated[str, AfterValidator(_http_url)]
# A file that exists; kept as its absolute path (relative ones resolved against `base_dir`).
ExistingFile = Annotated[str, AfterValidator(_existing_file)]
# The name of an environment variable (read when the backend is built).
EnvName = Annotated[str, AfterValidator(_env_name)]
Positive = Annotated[int, Field(gt=0)]
NonNegative = Annotated[int, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]
NonNegativeSeconds = Annotated[float, Field(ge=0)]


class KindConfig(BaseModel, ABC):
    """One model: its name, its kind (`provider`, declared by each subclass) and its keys."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # What clients put in "model". (The models file adds its own rules: unique, no spaces.)
    name: str
    # The kind: each subclass narrows it to `Literal["<kind>"]`, the union's discriminator.
    provider: str

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The config the environment settings describe (LLMRELAY_PROVIDER is this kind).
        A gap raises `SettingsError` naming the variable; validate with `ConfigContext`."""

    @abstractmethod
    async def build(self, settings: Settings) -> Provider:
        """The backend; what the settings leave open comes from them. What cannot be built
        raises `SettingsError` (a sentence the caller prefixes with where the config came from)."""

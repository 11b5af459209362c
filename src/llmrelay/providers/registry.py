"""The provider kinds, declared once: `ModelConfig`, the union of every kind's config.

Adding a kind means a config class (a `KindConfig` with `provider: Literal["<kind>"]`, its
keys, `from_settings` and `build`) and one line in `ModelConfig`. Everything else is derived
from it: the kinds `LLMRELAY_PROVIDER` accepts, the models file's schema (a discriminated union
on `provider`, see `llmrelay.models`) and the wording of its mistakes (`describe`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from llmrelay.providers.anthropic.config import AnthropicConfig
from llmrelay.providers.config import CONFIG_ERROR, KindConfig
from llmrelay.providers.local import LocalConfig
from llmrelay.providers.openai_sdk.config import OpenAICompatibleConfig, OpenAIConfig
from llmrelay.providers.scripted import ScriptedConfig
from llmrelay.settings import SettingsError

if TYPE_CHECKING:
    from llmrelay.providers.base import Provider
    from llmrelay.settings import Settings

ModelConfig = Annotated[
    LocalConfig | OpenAIConfig | OpenAICompatibleConfig | AnthropicConfig | ScriptedConfig,
    Field(discriminator="provider"),
]


def _kind_of(config: type[KindConfig]) -> str:
    (kind,) = get_args(config.model_fields["provider"].annotation)
    return str(kind)


CONFIGS: Mapping[str, type[KindConfig]] = {
    _kind_of(config): config for config in get_args(get_args(ModelConfig)[0])
}
PROVIDER_KINDS: tuple[str, ...] = tuple(CONFIGS)
# Every key some kind takes, in the order the kinds declare them.
KNOWN_KEYS: tuple[str, ...] = tuple(dict.fromkeys(key for c in CONFIGS.values() for key in c.model_fields))

_TYPE_NAMES = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
}


def config_from_settings(settings: Settings) -> KindConfig:
    """The one model the environment settings describe; a gap raises `SettingsError`."""
    kind = settings.resolved_provider()
    config = CONFIGS.get(kind)
    if config is None:  # settings check this too; a hand-made Settings may not have
        raise SettingsError(
            f"LLMRELAY_PROVIDER: unknown provider {kind!r} (one of {', '.join(PROVIDER_KINDS)})."
        )
    try:
        return config.from_settings(settings)
    except ValidationError as exc:
        raise SettingsError(f"LLMRELAY_PROVIDER={kind}: {describe(exc.errors()[0], kind)}") from None


async def build_provider(settings: Settings) -> Provider:
    """The backend the environment settings ask for; a wrong setting raises `SettingsError`."""
    return await config_from_settings(settings).build(settings)


def describe(error: ErrorDetails, kind: str | None) -> str:
    """One of pydantic's errors about a config of `kind`, as one sentence naming the key.

    `error["loc"]` is relative to the config: (), (key,) or, inside the union, (kind, key).
    """
    loc = [part for part in error["loc"] if part != kind]
    key = str(loc[-1]) if loc else ""
    ctx = error.get("ctx") or {}
    value = error.get("input")
    kinds = ", ".join(PROVIDER_KINDS)
    match error["type"]:
        case "union_tag_invalid":
            given = value.get("provider") if isinstance(value, dict) else None
            return f"unknown provider {given!r} (one of {kinds})."
        case "union_tag_not_found":
            return f"provider is required (one of {kinds})."
        case "model_attributes_type" | "model_type" | "dict_type":
            return "must be a [[models]] table."
        case "extra_forbidden":
            return _misplaced(key, value, kind)
        case "missing" if key == "name":
            return 'name is required (what clients put in "model").'
        case "missing":
            field = CONFIGS[kind].model_fields.get(key) if kind is not None and kind in CONFIGS else None
            example = f" (e.g. {field.examples[0]})" if field is not None and field.examples else ""
            return f"{key} is required for provider {kind!r}{example}."
        case type_error if type_error in _TYPE_NAMES:
            return f"{key} must be {_TYPE_NAMES[type_error]}, not {value!r}."
        case "greater_than":
            return f"{key} must be above {ctx['gt']:g}, not {value!r}."
        case "greater_than_equal" if ctx.get("ge") == 0:
            return f"{key} must not be negative, not {value!r}."
        case "greater_than_equal":
            return f"{key} must be at least {ctx['ge']:g}, not {value!r}."
        case _ if error["type"] == CONFIG_ERROR:
            return str(ctx["sentence"])
        case _:
            return f"{key}: {error['msg']}." if key else f"{error['msg']}."


def _misplaced(key: str, value: Any, kind: str | None) -> str:
    """A key this kind does not take: a typo, or another kind's key (then its type is checked
    first, so a wrong value is named as such whichever kind it was meant for)."""
    owner = next((c for c in CONFIGS.values() if key in c.model_fields), None)
    if owner is None:
        return f"unknown key {key!r} (known: {', '.join(KNOWN_KEYS)})."
    try:
        _field_type(owner, key).validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] in _TYPE_NAMES:
            return describe({**first, "loc": (key,)}, kind)
    return f"{key} does not apply to provider {kind!r}."


@cache
def _field_type(config: type[KindConfig], key: str) -> TypeAdapter[Any]:
    # The field's type without its checks: bounds and files are the owner kind's business.
    annotation = config.model_fields[key].annotation
    assert annotation is not None, "every config field is annotated"
    return TypeAdapter(annotation, config=ConfigDict(strict=True))

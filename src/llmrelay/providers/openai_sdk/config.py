"""The two kinds that talk through the OpenAI SDK: `openai` (Responses API) and
`openai-compatible` (Chat Completions, for vLLM, llama.cpp's server, Ollama…).

Import-light on purpose: the SDK is imported only when a backend is built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, Literal, Self, TypedDict

from pydantic import Field, SecretStr, ValidationInfo, model_validator

from llmrelay.providers.config import (
    EnvName,
    HttpUrl,
    KindConfig,
    NonNegative,
    Positive,
    PositiveSeconds,
    config_error,
    context_of,
)
from llmrelay.settings import OPENAI_DEFAULT_MODEL, SettingsError

if TYPE_CHECKING:
    from llmrelay.providers.openai_sdk.chat import ChatCompletionsProvider
    from llmrelay.providers.openai_sdk.responses import ResponsesProvider
    from llmrelay.settings import Settings


class _UpstreamConfig(KindConfig):
    """The keys both SDK kinds take."""

    # The upstream's own model name (default: the entry's name).
    model: str | None = None
    base_url: HttpUrl | None = None
    # The variable holding the upstream's key.
    api_key_env: EnvName | None = None
    # Defaults LLMRELAY_MAX_OUTPUT_TOKENS, LLMRELAY_UPSTREAM_TIMEOUT_SECONDS,
    # LLMRELAY_UPSTREAM_MAX_RETRIES.
    max_output_tokens: Positive | None = None
    timeout_seconds: PositiveSeconds | None = None
    max_retries: NonNegative | None = None

    # Whether the upstream refuses to answer without a key (then OPENAI_API_KEY is the fallback).
    needs_key: ClassVar[bool]

    @model_validator(mode="after")
    def _key_is_there(self, info: ValidationInfo) -> Self:
        # Checked before any backend is built (a local model elsewhere in the file is slow to
        # load); `build` reads the key again, where no settings were at hand here.
        settings = context_of(info).get("settings")
        if settings is not None:
            try:
                self.api_key(settings)
            except SettingsError as exc:
                raise config_error(str(exc)) from None
        return self

    def api_key(self, settings: Settings) -> SecretStr | None:
        """The upstream's key: from `api_key_env`, else OPENAI_API_KEY where the kind needs one."""
        if self.api_key_env is not None:
            if self.api_key_env == "OPENAI_API_KEY" and settings.openai_api_key is not None:
                return settings.openai_api_key  # also read from .env, as the SDK's users expect
            value = os.environ.get(self.api_key_env)
            if not value:
                raise SettingsError(f"api_key_env: the environment variable {self.api_key_env} is not set.")
            return SecretStr(value)
        if self.needs_key:
            if settings.openai_api_key is None:
                raise SettingsError(
                    f"provider {self.provider!r} needs a key: set OPENAI_API_KEY or name a "
                    "variable in api_key_env."
                )
            return settings.openai_api_key
        return None

    def backend_options(self, settings: Settings) -> BackendOptions:
        """What both backends take besides key and URL; unset keys fall back to the settings."""
        return {
            "model": self.model or self.name,
            "timeout": self.timeout_seconds or settings.upstream_timeout_seconds,
            "max_retries": settings.upstream_max_retries if self.max_retries is None else self.max_retries,
            "max_tokens": self.max_output_tokens or settings.max_output_tokens,
        }


class BackendOptions(TypedDict):
    model: str
    timeout: float
    max_retries: int
    max_tokens: int


class OpenAIConfig(_UpstreamConfig):
    """`provider = "openai"`: OpenAI's Responses API (or a server that speaks it)."""

    provider: Literal["openai"]
    needs_key = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if settings.openai_api_key is None:
            raise SettingsError("LLMRELAY_PROVIDER=openai needs OPENAI_API_KEY to be set.")
        model = settings.model or OPENAI_DEFAULT_MODEL
        values = {"name": model, "provider": "openai", "base_url": settings.openai_base_url or None}
        return cls.model_validate(values, context={"settings": settings})

    async def build(self, settings: Settings) -> ResponsesProvider:
        from llmrelay.providers.openai_sdk.responses import ResponsesProvider

        key = self.api_key(settings)
        assert key is not None, "api_key raises where the kind needs one"
        return ResponsesProvider(
            api_key=key.get_secret_value(),
            base_url=self.base_url,
            **self.backend_options(settings),
        )


class OpenAICompatibleConfig(_UpstreamConfig):
    """`provider = "openai-compatible"`: Chat Completions at `base_url` (a key only if it wants one)."""

    provider: Literal["openai-compatible"]
    base_url: HttpUrl = Field(examples=["http://127.0.0.1:11434/v1"])
    needs_key = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if not settings.openai_base_url:
            raise SettingsError(
                "LLMRELAY_PROVIDER=openai-compatible needs OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1)."
            )
        if not settings.model:
            raise SettingsError("LLMRELAY_PROVIDER=openai-compatible needs LLMRELAY_MODEL.")
        values = {
            "name": settings.model,
            "provider": "openai-compatible",
            "base_url": settings.openai_base_url,
            # Sent when set; many local servers want none.
            "api_key_env": "OPENAI_API_KEY" if settings.openai_api_key is not None else None,
        }
        return cls.model_validate(values, context={"settings": settings})

    async def build(self, settings: Settings) -> ChatCompletionsProvider:
        from llmrelay.providers.openai_sdk.chat import ChatCompletionsProvider

        key = self.api_key(settings)
        return ChatCompletionsProvider(
            # The SDK refuses to start without a key, even for a server that wants none.
            api_key=key.get_secret_value() if key is not None else "none",
            base_url=self.base_url,
            **self.backend_options(settings),
        )

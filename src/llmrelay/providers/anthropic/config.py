"""`provider = "anthropic"`: Anthropic's Messages API (or a gateway that speaks it).

The same keys as the OpenAI SDK kinds (`model`, `base_url`, `api_key_env`, `max_output_tokens`,
`timeout_seconds`, `max_retries`), with Anthropic's variables as the fallbacks: the key from
`ANTHROPIC_API_KEY`, the URL from `ANTHROPIC_BASE_URL` (environment settings only).
Import-light on purpose: the SDK is imported only when a backend is built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import SecretStr

from llmrelay.providers.openai_sdk.config import _UpstreamConfig
from llmrelay.settings import ANTHROPIC_DEFAULT_MODEL, SettingsError

if TYPE_CHECKING:
    from llmrelay.providers.anthropic.messages import AnthropicProvider
    from llmrelay.settings import Settings


class AnthropicConfig(_UpstreamConfig):
    provider: Literal["anthropic"]
    needs_key: ClassVar[bool] = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if settings.anthropic_api_key is None:
            raise SettingsError("LLMRELAY_PROVIDER=anthropic needs ANTHROPIC_API_KEY to be set.")
        model = settings.model or ANTHROPIC_DEFAULT_MODEL
        values = {"name": model, "provider": "anthropic", "base_url": settings.anthropic_base_url or None}
        return cls.model_validate(values, context={"settings": settings})

    def api_key(self, settings: Settings) -> SecretStr | None:
        """The upstream's key: from `api_key_env`, else ANTHROPIC_API_KEY."""
        if self.api_key_env is not None:
            if self.api_key_env == "ANTHROPIC_API_KEY" and settings.anthropic_api_key is not None:
                return settings.anthropic_api_key  # also read from .env, as the SDK's users expect
            value = os.environ.get(self.api_key_env)
            if not value:
                raise SettingsError(f"api_key_env: the environment variable {self.api_key_env} is not set.")
            return SecretStr(value)
        if settings.anthropic_api_key is None:
            raise SettingsError(
                "provider 'anthropic' needs a key: set ANTHROPIC_API_KEY or name a variable in api_key_env."
            )
        return settings.anthropic_api_key

    async def build(self, settings: Settings) -> AnthropicProvider:
        from llmrelay.providers.anthropic.messages import AnthropicProvider

        key = self.api_key(settings)
        assert key is not None, "api_key raises when there is none"
        return AnthropicProvider(
            api_key=key.get_secret_value(),
            base_url=self.base_url,
            **self.backend_options(settings),
        )

"""Model backends behind one protocol (`base.Provider`), and the factory that picks one."""

from __future__ import annotations

from llmrelay.providers.base import Provider, ProviderError
from llmrelay.settings import OPENAI_DEFAULT_MODEL, Settings, SettingsError


async def build_provider(settings: Settings) -> Provider:
    """The backend the settings ask for; a setting that is wrong raises `SettingsError`."""
    kind = settings.resolved_provider()
    if kind == "local":
        from llmrelay.providers.local import LocalProvider, default_model_path

        path = settings.local_model_path
        if path is None:
            try:
                path = default_model_path()
            except ProviderError as exc:
                raise SettingsError(exc.message) from None
        elif not path.is_file():
            raise SettingsError(f"LLMRELAY_LOCAL_MODEL_PATH: no file at {path}.")
        try:
            return await LocalProvider.load(
                path,
                context_tokens=settings.local_context_tokens,
                threads=settings.local_threads,
                max_tokens=settings.max_output_tokens,
            )
        except ProviderError as exc:
            raise SettingsError(exc.message) from None
    if kind == "openai":
        if settings.openai_api_key is None:
            raise SettingsError("LLMRELAY_PROVIDER=openai needs OPENAI_API_KEY to be set.")
        from llmrelay.providers.openai import OpenAIProvider

        return OpenAIProvider(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            model=settings.model or OPENAI_DEFAULT_MODEL,
            timeout=settings.upstream_timeout_seconds,
            max_retries=settings.upstream_max_retries,
            max_tokens=settings.max_output_tokens,
        )
    if kind == "openai-compatible":
        if not settings.openai_base_url:
            raise SettingsError(
                "LLMRELAY_PROVIDER=openai-compatible needs OPENAI_BASE_URL "
                "(e.g. http://127.0.0.1:11434/v1)."
            )
        if not settings.model:
            raise SettingsError("LLMRELAY_PROVIDER=openai-compatible needs LLMRELAY_MODEL.")
        from llmrelay.providers.openai_compatible import OpenAICompatibleProvider

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
        return OpenAICompatibleProvider(
            api_key=key,
            base_url=settings.openai_base_url,
            model=settings.model,
            timeout=settings.upstream_timeout_seconds,
            max_retries=settings.upstream_max_retries,
            max_tokens=settings.max_output_tokens,
        )
    if kind == "scripted":
        from llmrelay.providers.scripted import ScriptedProvider

        return ScriptedProvider.replying(
            settings.scripted_reply, delay_seconds=settings.scripted_delay_seconds
        )
    raise SettingsError(f"LLMRELAY_PROVIDER: unknown provider {kind!r}.")

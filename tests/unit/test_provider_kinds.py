"""The provider kinds, declared once in `providers.registry`: what the settings accept, and the
configs the environment settings turn into (the models file's side is test_models_file.py)."""

from __future__ import annotations

import pytest

from llmrelay.providers.anthropic.config import AnthropicConfig
from llmrelay.providers.local import LocalConfig
from llmrelay.providers.openai_sdk.config import OpenAICompatibleConfig, OpenAIConfig
from llmrelay.providers.registry import PROVIDER_KINDS, build_provider, config_from_settings
from llmrelay.providers.scripted import ScriptedConfig, ScriptedProvider
from llmrelay.settings import Settings, SettingsError, load_settings
from tests.support.settings import make_settings


def test_the_settings_accept_exactly_the_declared_kinds_and_auto() -> None:
    assert PROVIDER_KINDS == ("local", "openai", "openai-compatible", "anthropic", "scripted")
    for kind in (*PROVIDER_KINDS, "auto"):
        assert make_settings(provider=kind).provider == kind
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None, provider="bedrock")
    assert str(raised.value) == (
        "LLMRELAY_PROVIDER is invalid: must be auto or one of local, openai, openai-compatible, "
        "anthropic, scripted (got 'bedrock')."
    )


def test_the_help_text_names_every_kind() -> None:
    # `llmrelay --help` shows this description; a new kind must appear in it.
    description = Settings.model_fields["provider"].description or ""
    for kind in PROVIDER_KINDS:
        assert kind in description


async def test_environment_settings_become_the_same_config_objects() -> None:
    scripted = config_from_settings(make_settings(provider="scripted", model="house"))
    assert scripted == ScriptedConfig(name="house", provider="scripted")
    provider = await build_provider(make_settings(provider="scripted", scripted_reply="one two"))
    assert isinstance(provider, ScriptedProvider)
    assert provider.info.model == "scripted"
    assert list(provider.script.deltas) == ["one", " two"]

    openai = config_from_settings(make_settings(provider="openai", openai_api_key="sk-test-key"))
    assert isinstance(openai, OpenAIConfig)
    assert (openai.name, openai.base_url) == ("gpt-4o-mini", None)
    # auto picks openai when a key is set.
    assert isinstance(
        config_from_settings(make_settings(provider="auto", openai_api_key="sk-x")), OpenAIConfig
    )

    settings = make_settings(
        provider="openai-compatible",
        openai_base_url="http://127.0.0.1:1/v1",
        model="llama",
        openai_api_key="sk-k",
    )
    compatible = config_from_settings(settings)
    assert isinstance(compatible, OpenAICompatibleConfig)
    assert (compatible.name, compatible.base_url) == ("llama", "http://127.0.0.1:1/v1")
    key = compatible.api_key(settings)
    assert key is not None and key.get_secret_value() == "sk-k"  # sent when set
    keyless = make_settings(
        provider="openai-compatible", openai_base_url="http://127.0.0.1:1/v1", model="llama"
    )
    keyless_config = config_from_settings(keyless)
    assert isinstance(keyless_config, OpenAICompatibleConfig)
    assert keyless_config.api_key(keyless) is None

    claude = make_settings(
        provider="anthropic", anthropic_api_key="sk-ant-k", anthropic_base_url="http://h:1"
    )
    anthropic = config_from_settings(claude)
    assert isinstance(anthropic, AnthropicConfig)
    assert (anthropic.name, anthropic.base_url) == ("claude-haiku-4-5", "http://h:1")
    anthropic_key = anthropic.api_key(claude)
    assert anthropic_key is not None and anthropic_key.get_secret_value() == "sk-ant-k"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"provider": "openai"}, "LLMRELAY_PROVIDER=openai needs OPENAI_API_KEY to be set."),
        ({"provider": "anthropic"}, "LLMRELAY_PROVIDER=anthropic needs ANTHROPIC_API_KEY to be set."),
        (
            {"provider": "anthropic", "anthropic_api_key": "k", "anthropic_base_url": "h:1"},
            "LLMRELAY_PROVIDER=anthropic: base_url 'h:1' must be an http:// or https:// URL.",
        ),
        (
            {"provider": "openai-compatible", "model": "m"},
            "LLMRELAY_PROVIDER=openai-compatible needs OPENAI_BASE_URL",
        ),
        (
            {"provider": "openai-compatible", "openai_base_url": "http://h/v1"},
            "LLMRELAY_PROVIDER=openai-compatible needs LLMRELAY_MODEL.",
        ),
        (
            {"provider": "openai-compatible", "openai_base_url": "localhost:11434", "model": "m"},
            "LLMRELAY_PROVIDER=openai-compatible: base_url 'localhost:11434' must be an http:// or https:// URL.",
        ),
        (
            {"provider": "local", "local_model_path": "/no/such/file.gguf"},
            "LLMRELAY_LOCAL_MODEL_PATH: no file at",
        ),
    ],
)
def test_a_gap_in_the_environment_names_the_variable(values: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        config_from_settings(make_settings(**values))
    assert str(raised.value).startswith(message)


def test_a_config_takes_exactly_its_own_keys() -> None:
    assert set(LocalConfig.model_fields) == {
        "name",
        "provider",
        "path",
        "context_tokens",
        "max_output_tokens",
    }
    assert set(ScriptedConfig.model_fields) == {"name", "provider", "model", "reply", "delay_seconds"}
    shared = {"name", "provider", "model", "base_url", "api_key_env", "max_output_tokens"}
    for config in (OpenAIConfig, OpenAICompatibleConfig, AnthropicConfig):
        assert set(config.model_fields) == shared | {"timeout_seconds", "max_retries"}

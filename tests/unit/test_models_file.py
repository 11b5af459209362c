"""LLMRELAY_MODELS_FILE, read in-process (llmrelay.models): each mistake one sentence naming entry
and key. Serving a file's models: tests/api/test_models_file.py; `serve` refusing one:
tests/cli/test_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmrelay.models import build_registry, load_models_file
from llmrelay.settings import SettingsError
from tests.support.models_files import write_models_file as write
from tests.support.settings import make_settings


async def test_without_a_file_the_one_model_of_the_settings_under_its_name() -> None:
    registry = await build_registry(make_settings(provider="scripted", model="house-model"))
    try:
        assert registry.names() == ["house-model"]
        assert registry.default is registry.get("house-model")
    finally:
        await registry.aclose()


def entry(body: str, name: str = "a") -> str:
    return f'[[models]]\nname = "{name}"\n{body}\n'


MISTAKES = [
    (
        entry('provider = "scripted"') + entry('provider = "foo"', "fast"),
        "entry 2 (name 'fast'): unknown provider 'foo' (one of local, openai, openai-compatible, anthropic, "
        "scripted).",
    ),
    ('[[models]]\nprovider = "scripted"\n', "entry 1: name is required"),
    ('[[models]]\nname = ""\nprovider = "scripted"\n', "entry 1: name is required"),
    ('[[models]]\nname = "two words"\nprovider = "scripted"\n', "name 'two words' must not contain spaces."),
    (entry(""), "entry 1 (name 'a'): provider is required"),
    (entry('provider = "scripted"') * 2, "entry 2 (name 'a'): name 'a' is used by an earlier entry."),
    (entry('provider = "scripted"\nmodle = "x"'), "entry 1 (name 'a'): unknown key 'modle'"),
    (
        entry('provider = "scripted"\nmax_output_tokens = "lots"'),
        "max_output_tokens must be an integer, not 'lots'.",
    ),
    (entry('provider = "local"\ncontext_tokens = true'), "context_tokens must be an integer, not True."),
    (entry('provider = "local"\ncontext_tokens = 64'), "context_tokens must be at least 128, not 64."),
    (entry('provider = "local"\nmax_output_tokens = 0'), "max_output_tokens must be above 0, not 0."),
    (
        entry('provider = "scripted"\nmax_output_tokens = 9'),
        "max_output_tokens does not apply to provider 'scripted'.",
    ),
    (
        entry('provider = "openai-compatible"\nbase_url = "http://h/v1"\nmax_retries = -1'),
        "max_retries must not be negative",
    ),
    (
        entry('provider = "openai"\npath = "x.gguf"'),
        "entry 1 (name 'a'): path does not apply to provider 'openai'.",
    ),
    (entry('provider = "local"\nbase_url = "http://h/v1"'), "base_url does not apply to provider 'local'."),
    (entry('provider = "openai-compatible"'), "base_url is required for provider 'openai-compatible'"),
    (
        entry('provider = "openai-compatible"\nbase_url = "localhost:11434"'),
        "must be an http:// or https:// URL.",
    ),
    (
        entry('provider = "openai-compatible"\nbase_url = "http://h/v1"\napi_key_env = "LLMRELAY_UNSET_KEY"'),
        "api_key_env: the environment variable LLMRELAY_UNSET_KEY is not set.",
    ),
    (
        entry('provider = "openai"'),
        "provider 'openai' needs a key: set OPENAI_API_KEY or name a variable in api_key_env.",
    ),
    (
        entry('provider = "anthropic"'),
        "provider 'anthropic' needs a key: set ANTHROPIC_API_KEY or name a variable in api_key_env.",
    ),
    (
        entry('provider = "anthropic"\ncontext_tokens = 4096'),
        "context_tokens does not apply to provider 'anthropic'.",
    ),
    (entry('provider = "local"\npath = "missing.gguf"'), "entry 1 (name 'a'): path: no file at"),
    ("[[models]\n", "is not valid TOML"),
    ("", "no [[models]] tables; add at least one."),
    ('default = "a"\n' + entry('provider = "scripted"'), "unknown top-level key 'default'"),
    ('models = ["a"]\n', "entry 1: must be a [[models]] table."),
]


@pytest.mark.parametrize(("text", "message"), MISTAKES)
def test_each_mistake_is_one_sentence_naming_entry_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        load_models_file(path, make_settings())
    assert str(raised.value).startswith(f"models file {path}")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LLMRELAY_MODELS_FILE: no file at"):
        load_models_file(tmp_path / "nope.toml", make_settings())


async def test_a_model_file_that_will_not_load_names_the_entry(tmp_path: Path) -> None:
    write(tmp_path, "not a model", name="junk.gguf")
    path = write(
        tmp_path,
        entry('provider = "scripted"', "ok") + entry('provider = "local"\npath = "junk.gguf"', "junk"),
    )
    with pytest.raises(SettingsError) as raised:
        await build_registry(make_settings(models_file=path))
    assert str(raised.value).startswith(f"models file {path}, entry 2 (name 'junk'): path: could not load")

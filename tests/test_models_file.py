"""LLMRELAY_MODELS_FILE: several models at once, each mistake one sentence naming entry and key,
and upstream settings (keys, retries, timeouts) reaching the backends built from the file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.models import build_registry, load_models_file
from llmrelay.settings import SettingsError
from tests.conftest import make_settings
from tests.fake_openai import FakeOpenAI
from tests.fake_openai import Script as FakeScript
from tests.servers import serve

TWO_MODELS = """
[[models]]
name = "fast"
provider = "scripted"
reply = "I am fast."

[[models]]
name = "slow"
provider = "scripted"
reply = "I am slow, but I get there."
delay_seconds = 0.01
"""


def write(tmp_path: Path, text: str, name: str = "models.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_with_two_models(tmp_path: Path) -> None:
    settings = make_settings(models_file=write(tmp_path, TWO_MODELS))
    with (
        serve(create_app(settings)) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client,
    ):
        assert [m.id for m in client.models.list()] == ["fast", "slow"]
        fast = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
        assert fast.choices[0].message.content == "I am fast."
        assert fast.model == "fast"
        slow = client.responses.create(model="slow", input="hi")
        assert slow.output_text == "I am slow, but I get there."
        assert slow.model == "slow"
        # The first entry is the default: the tutorial endpoints use it.
        assert httpx.get(f"{url}/chat-complete", params={"message": "hi"}).json() == {"data": "I am fast."}
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="medium", messages=[{"role": "user", "content": "hi"}])


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
        "entry 2 (name 'fast'): unknown provider 'foo' (one of local, openai, openai-compatible, scripted).",
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


def test_serve_stops_on_a_bad_models_file_with_one_sentence(tmp_path: Path) -> None:
    path = write(tmp_path, entry('provider = "scripted"') + entry('provider = "foo"', "fast"), name="x.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMRELAY_", "OPENAI_"))}
    env["LLMRELAY_MODELS_FILE"] = str(path)
    result = subprocess.run(
        [sys.executable, "-m", "llmrelay", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"models file {path}, entry 2 (name 'fast'): unknown provider 'foo'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# -- upstream settings reach the backends built from the file ---------------------------------


@pytest.fixture(scope="module")
def fake_upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def fake(fake_upstream: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    fake_upstream[0].requests.clear()
    fake_upstream[0].streams.clear()
    return fake_upstream[0]


def upstream_file(tmp_path: Path, fake_url: str) -> Path:
    return write(
        tmp_path,
        f"""
[[models]]
name = "inherits"
provider = "openai-compatible"
model = "upstream-name"
base_url = "{fake_url}/v1"
api_key_env = "LLMRELAY_TEST_UPSTREAM_KEY"

[[models]]
name = "no-retries"
provider = "openai-compatible"
base_url = "{fake_url}/v1"
max_retries = 0

[[models]]
name = "impatient"
provider = "openai"
base_url = "{fake_url}/v1"
timeout_seconds = 0.3
max_retries = 0
""",
    )


def test_keys_retries_and_timeouts_reach_file_backends(
    tmp_path: Path, fake: FakeOpenAI, fake_upstream: tuple[FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMRELAY_TEST_UPSTREAM_KEY", "sk-upstream-from-env")
    settings = make_settings(
        models_file=upstream_file(tmp_path, fake_upstream[1]),
        openai_api_key="sk-openai-from-settings",
        upstream_max_retries=1,
    )
    user = [{"role": "user", "content": "hi"}]
    with (
        serve(create_app(settings)) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client,
    ):
        answer = client.chat.completions.create(model="inherits", messages=user)
        assert answer.choices[0].message.content == "Hello there!"
        assert fake.requests[-1].body["model"] == "upstream-name"
        assert fake.requests[-1].headers["authorization"] == "Bearer sk-upstream-from-env"

        fake.script = FakeScript(status=500)
        fake.requests.clear()
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="inherits", messages=user)
        assert failed.value.status_code == 502  # the upstream's 500 is a bad gateway here
        assert len(fake.requests) == 2  # LLMRELAY_UPSTREAM_MAX_RETRIES=1: one retry
        fake.requests.clear()
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="no-retries", messages=user)
        assert len(fake.requests) == 1  # the file's max_retries = 0
        fake.script = FakeScript(status=429)
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="no-retries", messages=user)
        assert limited.value.status_code == 429 and limited.value.code == "rate_limit_exceeded"

        fake.script = FakeScript(delay_seconds=2)
        fake.requests.clear()
        with pytest.raises(openai.InternalServerError) as raised:
            client.responses.create(model="impatient", input="hi")
        assert raised.value.status_code == 504
        assert fake.requests[-1].headers["authorization"] == "Bearer sk-openai-from-settings"


def test_serve_prints_an_error_that_quotes_markup_intact(tmp_path: Path) -> None:
    # "[[models]]" is rich markup syntax: unescaped, the terminal showed "[]".
    path = write(tmp_path, "", name="empty.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMRELAY_", "OPENAI_"))}
    env["LLMRELAY_MODELS_FILE"] = str(path)
    result = subprocess.run(
        [sys.executable, "-m", "llmrelay", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no [[models]] tables; add at least one." in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

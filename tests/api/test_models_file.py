"""LLMRELAY_MODELS_FILE served: several models at once, and upstream settings (keys, retries,
timeouts) reaching the backends built from the file (the OpenAI stand-in behind them)."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from llmrelay.app import create_app
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_openai import Script as FakeScript
from tests.support.models_files import write_models_file as write
from tests.support.servers import serve
from tests.support.settings import make_settings

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


# -- upstream settings reach the backends built from the file ---------------------------------


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
    tmp_path: Path, fake: FakeOpenAI, fake_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMRELAY_TEST_UPSTREAM_KEY", "sk-upstream-from-env")
    settings = make_settings(
        models_file=upstream_file(tmp_path, fake_url),
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

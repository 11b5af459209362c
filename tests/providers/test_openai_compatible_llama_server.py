"""The openai-compatible backend against a server nobody here wrote: llama-cpp-python's own
OpenAI-compatible server (`python -m llama_cpp.server`), serving the same GGUF file as the
embedded model. llmrelay passes its answer through whole and in order."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.local import default_model_path
from tests.support.servers import free_socket, serve
from tests.support.settings import make_settings

pytestmark = pytest.mark.model

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
GREEDY = {"temperature": 0.0, "max_tokens": 32}


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with free_socket() as sock:
        port = sock.getsockname()[1]
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(os.cpu_count() or 1),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"llama_cpp.server exited ({process.returncode}):\n{log_path.read_text(errors='replace')}"
            )
        try:
            if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"llama_cpp.server did not start in 120 s:\n{log_path.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def relay(llama_server: str) -> Iterator[str]:
    settings = make_settings(
        provider="openai-compatible",
        openai_base_url=f"{llama_server}/v1",
        model="smollm2",
        upstream_max_retries=0,
    )
    with serve(create_app(settings)) as url:
        yield url


def test_streamed_answer_passes_through_whole_and_in_order(llama_server: str, relay: str) -> None:
    with (
        openai.OpenAI(base_url=f"{relay}/v1", api_key="x", max_retries=0) as through,
        openai.OpenAI(base_url=f"{llama_server}/v1", api_key="x", max_retries=0) as direct,
    ):
        chunks = list(
            through.chat.completions.create(
                model="smollm2",
                messages=QUESTION,
                stream=True,
                stream_options={"include_usage": True},
                **GREEDY,
            )
        )
        expected = direct.chat.completions.create(model="smollm2", messages=QUESTION, **GREEDY)
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    answer = expected.choices[0].message.content
    assert answer and answer.strip()
    assert "".join(deltas) == answer
    assert len(deltas) > 3
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_responses_and_whole_answers_through_llama_server(llama_server: str, relay: str) -> None:
    with (
        openai.OpenAI(base_url=f"{relay}/v1", api_key="x", max_retries=0) as through,
        openai.OpenAI(base_url=f"{llama_server}/v1", api_key="x", max_retries=0) as direct,
    ):
        whole = through.chat.completions.create(model="smollm2", messages=QUESTION, **GREEDY)
        response = through.responses.create(
            model="smollm2", input=QUESTION, temperature=0, max_output_tokens=32
        )  # type: ignore[arg-type]
        expected = direct.chat.completions.create(model="smollm2", messages=QUESTION, **GREEDY)
    assert whole.choices[0].message.content == expected.choices[0].message.content
    assert response.output_text == expected.choices[0].message.content

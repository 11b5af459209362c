"""The command line as a user runs it: a real process, its output and its exit code."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from llmrelay.settings import Settings
from tests.support.environment import subprocess_env

LLMRELAY = [sys.executable, "-m", "llmrelay"]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMRELAY, *args],
        env=subprocess_env(**(env or {})),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


# The settings named as the OpenAI and Anthropic SDKs name them; every other one is LLMRELAY_<FIELD>.
SDK_NAMES = {
    "openai_api_key": "OPENAI_API_KEY",
    "openai_base_url": "OPENAI_BASE_URL",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_base_url": "ANTHROPIC_BASE_URL",
}


def test_help_lists_every_setting() -> None:
    result = run("--help", env={"COLUMNS": "400"})  # wide: a long name is never cut by wrapping
    assert result.returncode == 0
    shown = " ".join(result.stdout.split())
    assert len(Settings.model_fields) >= 20
    for field, info in Settings.model_fields.items():
        name = SDK_NAMES.get(field, f"LLMRELAY_{field.upper()}")
        assert f"{name} (default " in shown, f"{name} is not in --help"
        assert info.description, f"{field} has no description for --help"


@pytest.mark.model
def test_ask_streams_an_answer_from_the_embedded_model(tmp_path: Path) -> None:
    result = run("ask", "Say hello.", env={"LLMRELAY_MAX_OUTPUT_TOKENS": "24"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_ask_with_the_scripted_provider_prints_its_reply(tmp_path: Path) -> None:
    result = run(
        "ask",
        "hi",
        env={"LLMRELAY_PROVIDER": "scripted", "LLMRELAY_SCRIPTED_REPLY": "one two three"},
        cwd=tmp_path,
    )
    assert result.returncode == 0
    assert result.stdout == "one two three\n"


@pytest.mark.parametrize(
    "env, needle",
    [
        ({"LLMRELAY_PROVIDER": "openai"}, "OPENAI_API_KEY"),
        ({"LLMRELAY_PROVIDER": "anthropic"}, "ANTHROPIC_API_KEY"),
        ({"LLMRELAY_PROVIDER": "nonsense"}, "LLMRELAY_PROVIDER"),
        (
            {"LLMRELAY_PROVIDER": "local", "LLMRELAY_LOCAL_MODEL_PATH": "/no/such/file.gguf"},
            "LLMRELAY_LOCAL_MODEL_PATH",
        ),
        ({"LLMRELAY_PROVIDER": "openai-compatible"}, "OPENAI_BASE_URL"),
        ({"LLMRELAY_PORT": "eighty"}, "LLMRELAY_PORT"),
        (
            {"LLMRELAY_PROVIDER": "scripted", "LLMRELAY_DATABASE_URL": "mysql://u:hunter2@h/db"},
            "LLMRELAY_DATABASE_URL",
        ),
        (
            {
                "LLMRELAY_PROVIDER": "scripted",
                "LLMRELAY_DATABASE_URL": "postgresql+asyncpg://u:hunter2@127.0.0.1:1/db",
            },
            "database",
        ),
    ],
)
@pytest.mark.parametrize("command", [["serve"], ["ask", "hi"]])
def test_a_bad_setting_is_one_sentence_naming_it(
    tmp_path: Path, env: dict[str, str], needle: str, command: list[str]
) -> None:
    result = run(*command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "hunter2" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_a_model_is_one_sentence(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    result = run(
        "serve", env={"LLMRELAY_PROVIDER": "local", "LLMRELAY_LOCAL_MODEL_PATH": str(bogus)}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "LLMRELAY_LOCAL_MODEL_PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LLMRELAY_PROVIDER=scripted\nLLMRELAY_SCRIPTED_REPLY=from dotenv\n")
    result = run("ask", "hi", cwd=tmp_path)
    assert result.stdout == "from dotenv\n"


def test_serve_answers_on_the_given_port_and_stops_on_sigint(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = subprocess_env(LLMRELAY_PROVIDER="scripted")
    process = subprocess.Popen(
        [*LLMRELAY, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer in 30 s"
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
        assert response.json()["provider"] == "scripted"
        answer = httpx.get(f"http://127.0.0.1:{port}/chat-complete", params={"message": "hi"})
        assert answer.json()["data"] == "Hello from the scripted provider."
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Traceback" not in output
    # Each log line carries a request id (or "-" outside a request).
    generation_lines = [line for line in output.splitlines() if "generation gen_" in line]
    assert generation_lines and all("[-]" not in line for line in generation_lines)


def test_ask_keeps_a_conversation_that_ask_can_continue(tmp_path: Path) -> None:
    import asyncio
    import re

    from llmrelay.store import NO_KEY_OWNER, Store

    env = {"LLMRELAY_PROVIDER": "scripted", "LLMRELAY_SCRIPTED_REPLY": "noted"}
    first = run("ask", "My name is Ada.", env=env, cwd=tmp_path)
    assert first.returncode == 0
    found = re.search(r"--conversation (conv_\w+)", first.stderr)
    assert found, first.stderr
    conversation_id = found.group(1)
    second = run("ask", "--conversation", conversation_id, "What is my name?", env=env, cwd=tmp_path)
    assert second.returncode == 0 and second.stdout == "noted\n"

    listed = run("conversations", env=env, cwd=tmp_path)
    assert conversation_id in listed.stdout and "My name is Ada." in listed.stdout

    async def messages() -> list[tuple[str, str]]:
        store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'llmrelay.db'}", recover_interrupted=False)
        try:
            record = await store.get_conversation(NO_KEY_OWNER, conversation_id)
            assert record is not None
            return [(m.role, m.content) for m in record.messages]
        finally:
            await store.close()

    assert asyncio.run(messages()) == [
        ("user", "My name is Ada."),
        ("assistant", "noted"),
        ("user", "What is my name?"),
        ("assistant", "noted"),
    ]
    missing = run("ask", "--conversation", "conv_nope", "hi", env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "conv_nope" in missing.stderr


def test_serve_stops_on_a_bad_models_file_with_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text(
        '[[models]]\nname = "a"\nprovider = "scripted"\n\n[[models]]\nname = "fast"\nprovider = "foo"\n',
        encoding="utf-8",
    )
    result = subprocess.run(
        [*LLMRELAY, "serve", "--port", "0"],
        env=subprocess_env(LLMRELAY_MODELS_FILE=str(path)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"models file {path}, entry 2 (name 'fast'): unknown provider 'foo'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_serve_prints_an_error_that_quotes_markup_intact(tmp_path: Path) -> None:
    # "[[models]]" is rich markup syntax: unescaped, the terminal showed "[]".
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    result = subprocess.run(
        [*LLMRELAY, "serve", "--port", "0"],
        env=subprocess_env(LLMRELAY_MODELS_FILE=str(path)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no [[models]] tables; add at least one." in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


MODELS_FILE = """
[[models]]
name = "first"
provider = "scripted"
reply = "from the first entry"

[[models]]
name = "second"
provider = "scripted"
reply = "from the second entry"
"""


def test_ask_honours_the_models_file_and_model_picks_an_entry(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(MODELS_FILE, encoding="utf-8")
    env = {"LLMRELAY_MODELS_FILE": str(models)}
    default = run("ask", "hi", env=env, cwd=tmp_path)
    assert default.returncode == 0, default.stderr
    assert default.stdout == "from the first entry\n"
    picked = run("ask", "--model", "second", "hi", env=env, cwd=tmp_path)
    assert picked.returncode == 0, picked.stderr
    assert picked.stdout == "from the second entry\n"
    unknown = run("ask", "--model", "third", "hi", env=env, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "--model: no model named 'third'" in unknown.stderr
    assert "first, second" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_ask_beside_a_running_server_leaves_its_answers_streaming(tmp_path: Path) -> None:
    """`ask` opens the same database as a live server: it must not take the server's running
    answer for one left over by a stopped server (recovery is the server's own, at its start)."""
    import json

    from httpx_sse import connect_sse

    from llmrelay.app import create_app
    from llmrelay.providers.scripted import ScriptedProvider
    from tests.support.servers import serve
    from tests.support.settings import make_settings

    database = tmp_path / "shared.db"
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{database}", detach_grace_seconds=30)
    slow = ScriptedProvider.replying(" ".join(["slow"] * 400), delay_seconds=0.05)
    with (
        serve(create_app(settings, provider=slow)) as url,
        httpx.Client(timeout=30) as client,
        connect_sse(client, "POST", f"{url}/api/chat", json={"message": "take your time"}) as source,
    ):
        start = json.loads(next(source.iter_sse()).data)
        asked = run(
            "ask",
            "hi",
            env={
                "LLMRELAY_PROVIDER": "scripted",
                "LLMRELAY_SCRIPTED_REPLY": "meanwhile",
                "LLMRELAY_DATABASE_URL": f"sqlite:///{database}",
            },
            cwd=tmp_path,
        )
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout == "meanwhile\n"
        stored = _stored_status(database, start["conversation_id"])
        assert stored == "streaming"  # still the server's, running
        stopped = httpx.post(f"{url}/api/messages/{start['message_id']}/cancel", timeout=10)
        assert stopped.json()["status"] == "cancelled"


def _stored_status(database: Path, conversation_id: str) -> str:
    """The status the store holds for a conversation's last message (read as the CLI would)."""
    import asyncio

    from llmrelay.store import NO_KEY_OWNER, Store

    async def read() -> str:
        store = await Store.open(f"sqlite+aiosqlite:///{database}", recover_interrupted=False)
        try:
            record = await store.get_conversation(NO_KEY_OWNER, conversation_id)
            assert record is not None
            return record.messages[-1].status
        finally:
            await store.close()

    return asyncio.run(read())

"""API keys: from LLMRELAY_API_KEYS and from the store (`llmrelay keys create`), enforced on /v1 and
/api, with usage recorded per key; a key never appears in the logs."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from llmrelay.app import create_app
from llmrelay.providers.scripted import ScriptedProvider
from llmrelay.store import Store
from tests.support.environment import subprocess_env
from tests.support.servers import serve
from tests.support.settings import make_settings

USER = [{"role": "user", "content": "hi"}]
ENV_KEYS = ("sk-first-env-key-0123456789", "sk-second-env-key-9876543210")


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def env_keyed(scripted: ScriptedProvider) -> Iterator[str]:
    settings = make_settings(api_keys=f" {ENV_KEYS[0]} ,{ENV_KEYS[1]},")
    with serve(create_app(settings, provider=scripted)) as url:
        yield url


def test_env_keys_are_required_on_v1(env_keyed: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every record of the server (it runs in this process)
    with sdk(env_keyed, "sk-wrong") as client, pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="scripted", messages=USER)
    assert raised.value.status_code == 401
    assert raised.value.code == "invalid_api_key"
    assert "sk-wrong" not in raised.value.message
    for key in ENV_KEYS:  # either key works, spaces and a trailing comma in the setting are no key
        with sdk(env_keyed, key) as client:
            assert client.chat.completions.create(model="scripted", messages=USER).choices[0].message.content
            assert client.responses.create(model="scripted", input="hi").output_text
            assert [m.id for m in client.models.list()] == ["scripted"]
    missing = httpx.get(f"{env_keyed}/v1/models")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert "Authorization: Bearer" in missing.json()["error"]["message"]
    blank = httpx.get(f"{env_keyed}/v1/models", headers={"Authorization": "Bearer"})
    assert blank.status_code == 401
    # A prefix of a key, or the key under another scheme, is no key.
    for header in (f"Bearer {ENV_KEYS[0][:-1]}", f"Basic {ENV_KEYS[0]}", ENV_KEYS[0]):
        assert httpx.get(f"{env_keyed}/v1/models", headers={"Authorization": header}).status_code == 401
    # The logs were captured: each answer above wrote its "finished" line, so a key logged
    # anywhere in this process (the server runs in it) would be in this text.
    finished = [r for r in caplog.records if "finished: reason=stop" in r.getMessage()]
    assert len(finished) == 2 * len(ENV_KEYS)
    for key in (*ENV_KEYS, "sk-wrong"):
        assert key not in caplog.text


def test_env_keys_are_required_on_api_with_its_own_error_shape(env_keyed: str) -> None:
    response = httpx.get(f"{env_keyed}/api/conversations")
    assert response.status_code == 401
    assert set(response.json()) == {"detail"}
    allowed = httpx.get(f"{env_keyed}/api/conversations", headers={"Authorization": f"Bearer {ENV_KEYS[1]}"})
    assert allowed.status_code == 200
    # Health stays open for load balancers.
    assert httpx.get(f"{env_keyed}/healthz").status_code == 200


async def test_stored_keys_usage_and_revocation(scripted: ScriptedProvider, database_url: str) -> None:
    store = await Store.open(database_url, recover_interrupted=False)
    try:
        alice, alice_key = await store.create_api_key("alice")
        bob, bob_key = await store.create_api_key("bob")
        settings = make_settings(database_url=database_url)
        with serve(create_app(settings, provider=scripted)) as url:
            async with openai.AsyncOpenAI(
                base_url=f"{url}/v1", api_key="sk-llmrelay-nope", max_retries=0
            ) as bad:
                with pytest.raises(openai.AuthenticationError):
                    await bad.models.list()
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"{url}/api/conversations")).status_code == 401
            async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=alice_key, max_retries=0) as client:
                completion = await client.chat.completions.create(model="scripted", messages=USER)
                stream = await client.chat.completions.create(model="scripted", messages=USER, stream=True)
                async for _ in stream:
                    pass
                response = await client.responses.create(model="scripted", input="hi")
            async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=bob_key, max_retries=0) as other:
                # Bob may not read or continue Alice's responses.
                with pytest.raises(openai.NotFoundError):
                    await other.responses.retrieve(response.id)
                with pytest.raises(openai.BadRequestError):
                    await other.responses.create(
                        model="scripted", input="x", previous_response_id=response.id
                    )
                await other.models.list()  # Bob's key works, and the server remembers it
                assert await store.revoke_api_key("bob")
                # Revoked from another process (the CLI's way): refused within the lookup's
                # memory of 2 s, and from then on.
                revoked_at = time.monotonic()
                while True:
                    try:
                        await other.models.list()
                    except openai.AuthenticationError:
                        break
                    assert time.monotonic() - revoked_at < 3, "a revoked key still works after 3 s"
                    await asyncio.sleep(0.1)
                with pytest.raises(openai.AuthenticationError):
                    await other.models.list()
            totals = {row["name"]: row for row in await store.usage_by_key()}
        assert completion.usage is not None
        assert totals["alice"]["requests"] == 3
        assert totals["alice"]["output_tokens"] == 3 * completion.usage.completion_tokens
        assert totals["alice"]["input_tokens"] == 3 * completion.usage.prompt_tokens
        # Bob's refused continuation ran nothing, so nothing was recorded for him.
        assert totals["bob"]["requests"] == 0
        assert alice.id != bob.id
    finally:
        await store.close()


async def test_no_keys_anywhere_means_open(scripted: ScriptedProvider) -> None:
    with serve(create_app(make_settings(), provider=scripted)) as url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/v1/models")).status_code == 200
            anything = await http.get(f"{url}/v1/models", headers={"Authorization": "Bearer anything"})
            assert anything.status_code == 200


def serve_beyond_loopback(tmp_path: Path, env: dict[str, str]) -> str:
    """`llmrelay serve` on 127.0.0.2 (an address that is not "127.0.0.1" but still only this
    machine); returns what it printed up to answering, then stops it."""
    tmp_path.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.2", 0))
        port = sock.getsockname()[1]
    full_env = subprocess_env(LLMRELAY_PROVIDER="scripted", **env)
    process = subprocess.Popen(
        [sys.executable, "-m", "llmrelay", "serve", "--host", "127.0.0.2", "--port", str(port)],
        env=full_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.2:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer in 30 s"
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    return output


def test_serve_beyond_loopback_warns_only_without_keys(tmp_path: Path) -> None:
    open_output = serve_beyond_loopback(tmp_path / "open", {})
    assert "with no API keys" in open_output
    assert "LLMRELAY_API_KEYS" in open_output
    keyed_output = serve_beyond_loopback(tmp_path / "keyed", {"LLMRELAY_API_KEYS": ENV_KEYS[0]})
    assert "with no API keys" not in keyed_output
    assert ENV_KEYS[0] not in keyed_output

"""The Vercel AI SDK (`ai` with `@ai-sdk/openai` and `@ai-sdk/openai-compatible`) under Node
as a client of llmrelay: `streamText` with a tool the SDK runs and feeds back, and
`generateObject` with a zod schema — against the stand-in upstream (the whole loop) and the
embedded model (a required call, a JSON schema). tests/node/client.mjs does the client's part
and prints what it saw; `npm ci --prefix tests/node` installs the SDK (`make install` does)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.clients import Relay
from tests.support.fake_openai import FakeOpenAI, FakeToolCall, Script
from tests.support.settings import skip_or_fail

NODE_DIR = Path(__file__).parents[1] / "node"  # tests/node: its own npm package
PROVIDERS = ["openai-chat", "openai-responses", "compatible"]


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        skip_or_fail("node is not installed")
    if not (NODE_DIR / "node_modules" / "ai").is_dir():
        skip_or_fail("the AI SDK is not installed: run `npm ci --prefix tests/node`")
    return found  # type: ignore[return-value]


def run_client(node: str, scenario: str, provider: str, relay: Relay) -> dict[str, Any]:
    done = subprocess.run(
        [node, str(NODE_DIR / "client.mjs"), scenario, provider, relay.url, relay.model],
        capture_output=True,
        text=True,
        timeout=280,
        # Nothing from the developer's environment steers the SDK (keys, base URLs, proxies).
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "NODE_NO_WARNINGS": "1"},
    )
    assert done.returncode == 0, f"the client failed: {done.stderr.strip()}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_text_runs_the_tool_and_streams_the_answer(
    node: str, fake: FakeOpenAI, upstream: Relay, provider: str
) -> None:
    call = FakeToolCall("call_w1", "get_weather", ['{"city":', "", ' "Paris"}'])
    fake.queue = [Script(deltas=(), tool_calls=(call,)), Script(deltas=("It is sunny", " in Paris."))]
    seen = run_client(node, "stream-tools", provider, upstream)
    assert seen["text"] == "It is sunny in Paris."
    assert seen["textDeltas"] == 2  # streamed as the upstream sent it
    assert seen["ran"] == ["Paris"]
    first, second = seen["steps"]
    assert first["finishReason"] == "tool-calls"
    assert first["toolCalls"] == [{"id": "call_w1", "name": "get_weather", "input": {"city": "Paris"}}]
    assert first["toolResults"] == [{"id": "call_w1", "output": "Sunny and 21 °C in Paris."}]
    assert second["finishReason"] == "stop"
    assert {"tool-input-start", "tool-input-delta", "tool-call", "tool-result"} <= set(seen["parts"])
    assert seen["usage"]["outputTokens"] == 2  # both steps: the call counted none, the answer two
    # The SDK sent the result back; llmrelay gave it to the upstream in its place.
    messages = fake.requests[1].body["messages"]
    (tool,) = [m for m in messages if m["role"] == "tool"]
    assert tool["tool_call_id"] == "call_w1" and "Sunny and 21 °C in Paris." in tool["content"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_generate_object_gets_an_object_of_the_schema(
    node: str, fake: FakeOpenAI, upstream: Relay, provider: str
) -> None:
    fake.script = Script(deltas=('{"name": "Paris", ', '"country": "France"}'))
    seen = run_client(node, "generate-object", provider, upstream)
    assert seen == {"object": {"name": "Paris", "country": "France"}, "finishReason": "stop"}
    sent = fake.requests[0].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "City"
    assert sent["json_schema"]["schema"]["required"] == ["name", "country"]


# -- On the embedded model ------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.parametrize("provider", PROVIDERS)
def test_generate_object_on_the_embedded_model(node: str, local: Relay, provider: str) -> None:
    seen = run_client(node, "generate-object", provider, local)
    assert seen["finishReason"] == "stop"
    assert set(seen["object"]) == {"name", "country"}
    assert all(isinstance(v, str) for v in seen["object"].values())


@pytest.mark.model
@pytest.mark.parametrize("provider", ["openai-responses", "compatible"])  # openai-chat: as compatible
def test_a_required_tool_on_the_embedded_model_runs(node: str, local: Relay, provider: str) -> None:
    seen = run_client(node, "required-tool", provider, local)
    (step,) = seen["steps"]
    assert step["finishReason"] == "tool-calls"
    (call,) = step["toolCalls"]
    assert call["name"] == "get_weather" and call["id"].startswith("call_")
    (city,) = seen["ran"]
    assert call["input"] == {"city": city}
    assert step["toolResults"] == [{"id": call["id"], "output": f"Sunny and 21 °C in {city}."}]

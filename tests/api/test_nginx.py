"""deploy/nginx-llmrelay.conf as shipped, with Debian's nginx in front of two llmrelay instances
sharing Redis and a database: resume and cancel land on whichever instance nginx picks."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.settings import skip_or_fail
from tests.support.several import REPLY, Pair, free_port, read_some, seqs

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx-llmrelay.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        skip_or_fail("nginx is not installed (apt-get install nginx)")
    assert found is not None
    return found


@pytest.fixture
def proxied(pair: Pair, tmp_path: Path) -> Iterator[str]:
    """nginx on a free port with the deploy config, its upstreams pointed at A and B."""
    binary = nginx_binary()
    port = free_port()
    site = DEPLOY.read_text()
    for placeholder, url in (("127.0.0.1:8001", pair.a), ("127.0.0.1:8002", pair.b)):
        assert placeholder in site
        site = site.replace(placeholder, url.removeprefix("http://"))
    assert "listen 8000;" in site
    site = site.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    # Which instance answered, for the test only.
    site = site.replace("location / {", "location / {\n        add_header X-Upstream $upstream_addr always;")
    (tmp_path / "llmrelay.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"""worker_processes 1;
daemon off;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
{temp}
    include {tmp_path / "llmrelay.conf"};
}}
"""
    )
    log = tmp_path / "error.log"
    process = subprocess.Popen(
        [binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None:
                    raise RuntimeError(f"nginx exited: {log.read_text() if log.exists() else ''}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError("nginx did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def resume_until_done(url: str, first: list, **kwargs):  # type: ignore[no-untyped-def]
    """Cut after a few events each time and come back with Last-Event-ID, through nginx."""
    events, upstreams = list(first), set()
    while events[-1].event != "end":
        more, headers = read_some(url, 8, headers={"Last-Event-ID": events[-1].id}, **kwargs)
        upstreams.add(headers["x-upstream"])
        events += more
    return events, upstreams


def test_chat_stream_through_nginx_resumes_on_the_other_instance(proxied: str, pair: Pair) -> None:
    first, headers = read_some(f"{proxied}/chat-stream", 6, params={"message": "hi"})
    assert headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in headers  # never gzipped
    events, upstreams = resume_until_done(f"{proxied}/chat-stream", first)
    upstreams.add(headers["x-upstream"])
    assert len(upstreams) == 2, upstreams  # round robin: the resumes came to both instances
    assert seqs(events) == [*range(41), 42]
    assert "".join(e.data for e in events if e.event == "message") == REPLY
    assert len(pair.provider_a.requests) + len(pair.provider_b.requests) == 1  # asked once


def test_chat_api_through_nginx_resumes_on_the_other_instance(proxied: str, pair: Pair) -> None:
    first, headers = read_some(f"{proxied}/api/chat", 4, method="POST", json={"message": "hi"})
    message_id = json.loads(first[0].data)["message_id"]
    events, upstreams = resume_until_done(f"{proxied}/api/messages/{message_id}/events", first)
    assert len(upstreams | {headers["x-upstream"]}) == 2
    assert seqs(events) == list(range(len(events)))
    assert "".join(json.loads(e.data)["text"] for e in events if e.event == "delta") == REPLY


def test_cancel_through_nginx_stops_the_owner_whichever_instance_gets_it(proxied: str, pair: Pair) -> None:
    for _ in range(2):  # once landing on the owner, once on the other (round robin)
        first, _ = read_some(f"{proxied}/chat-stream", 3, params={"message": "hi"})
        started = time.monotonic()
        response = httpx.post(f"{proxied}/chat-stream/{first[0].id.rpartition('.')[0]}/cancel", timeout=10)
        assert response.status_code == 200 and response.json()["cancelled"] is True
        assert time.monotonic() - started < 1
    assert pair.provider_a.cancelled + pair.provider_b.cancelled == 2


def test_a_responses_stream_through_nginx_resumes_on_the_other_instance(proxied: str, pair: Pair) -> None:
    """POST /v1/responses (stream) through nginx, cut; then GET ?stream=true&starting_after=N,
    cut again and again, each landing where round robin sends it: exactly the rest each time."""
    body = {"model": "scripted", "input": "count", "stream": True}
    first, headers = read_some(f"{proxied}/v1/responses", 5, method="POST", json=body)
    assert headers["content-type"].startswith("text/event-stream")
    events = [json.loads(e.data) for e in first]
    upstreams = {headers["x-upstream"]}
    url = f"{proxied}/v1/responses/{events[0]['response']['id']}"
    while events[-1]["type"] != "response.completed":
        params = {"stream": "true", "starting_after": str(events[-1]["sequence_number"])}
        more, headers = read_some(url, 8, params=params)
        upstreams.add(headers["x-upstream"])
        events += [json.loads(e.data) for e in more]
    assert len(upstreams) == 2, upstreams  # resumed on both instances
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == REPLY
    message = events[-1]["response"]["output"][0]
    assert message["content"][0]["text"] == REPLY
    assert len(pair.provider_a.requests) + len(pair.provider_b.requests) == 1  # asked once

"""A fast fake OpenAI upstream for benchmarks: raw asyncio + httptools (+ uvloop), no framework.

It must cost far less than the servers it feeds, so that a benchmark measures llmrelay and not
this. It speaks just enough of the OpenAI wire format for the official SDK and LiteLLM:

- POST /v1/chat/completions  (stream true: `data:` chunks, then `data: [DONE]`; false: JSON)
- POST /v1/responses         (stream true: typed Responses events; false: JSON)
- GET  /v1/models, GET /healthz

What it answers is set per run (--tokens, --gap-ms) and can be overridden per request through
the model name: `fake-t200-g10` streams 200 tokens 10 ms apart, `fake-t1000-g0` 1000 tokens as
fast as it can; or, first, by the same tag in the last message (`Say something. [fake-t20-g10]`),
for routes whose model is fixed (llmrelay's `/chat-stream`). Token i is `answer_token(i)`; the
load generator rebuilds the same text and checks every answer byte for byte.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from typing import Any

import httptools

# A mix that catches framing bugs: leading spaces, a line break, non-ASCII, punctuation.
WORDS = (" alpha", " beta", ",", " gamma\n", " δέλτα", " 42", " end.", " ünï", " x")
MODEL_SPEC = re.compile(r"-t(\d+)-g(\d+(?:\.\d+)?)")


def answer_token(i: int) -> str:
    return WORDS[i % len(WORDS)]


def expected_answer(tokens: int) -> str:
    return "".join(answer_token(i) for i in range(tokens))


def spec_from_model(model: str, tokens: int, gap_ms: float, prompt: str = "") -> tuple[int, float]:
    found = MODEL_SPEC.search(prompt) or MODEL_SPEC.search(model)
    if found:
        return int(found.group(1)), float(found.group(2))
    return tokens, gap_ms


def last_prompt(request: dict[str, Any]) -> str:
    """The text of the last message (Chat Completions) or the input (Responses), if a string."""
    messages = request.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        return content if isinstance(content, str) else ""
    given = request.get("input")
    return given if isinstance(given, str) else ""


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream:
    def __init__(self, tokens: int, gap_ms: float) -> None:
        self.tokens = tokens
        self.gap_ms = gap_ms

    # --- Chat Completions -------------------------------------------------------------
    def chat_events(self, model: str, n: int, usage: bool, prompt_tokens: int) -> list[bytes]:
        head = f'{{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":0,"model":"{model}",'
        out = [
            (
                head + '"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
                '"finish_reason":null}]}'
            ).encode()
        ]
        for i in range(n):
            content = json.dumps(answer_token(i), ensure_ascii=False)
            out.append(
                (
                    head + f'"choices":[{{"index":0,"delta":{{"content":{content}}},"finish_reason":null}}]}}'
                ).encode()
            )
        out.append((head + '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}').encode())
        if usage:
            out.append(
                (
                    head + f'"choices":[],"usage":{{"prompt_tokens":{prompt_tokens},"completion_tokens":{n},'
                    f'"total_tokens":{prompt_tokens + n}}}}}'
                ).encode()
            )
        return [b"data: " + e + b"\n\n" for e in out] + [b"data: [DONE]\n\n"]

    def chat_json(self, model: str, n: int, prompt_tokens: int) -> bytes:
        return json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": expected_answer(n)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": n,
                    "total_tokens": prompt_tokens + n,
                },
            },
            ensure_ascii=False,
        ).encode()

    # --- Responses --------------------------------------------------------------------
    def response_object(self, model: str, status: str, text: str | None, usage: dict[str, Any] | None) -> Any:
        output = []
        if text is not None:
            output = [
                {
                    "id": "msg_fake",
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ]
        return {
            "id": "resp_fake",
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "model": model,
            "output": output,
            "usage": usage,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
        }

    def responses_events(self, model: str, n: int, prompt_tokens: int) -> list[bytes]:
        seq = 0
        events: list[bytes] = []

        def add(kind: str, body: dict[str, Any]) -> None:
            nonlocal seq
            body = {"type": kind, "sequence_number": seq, **body}
            seq += 1
            events.append(f"event: {kind}\ndata: {json.dumps(body, ensure_ascii=False)}\n\n".encode())

        add("response.created", {"response": self.response_object(model, "in_progress", None, None)})
        item = {
            "id": "msg_fake",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        add("response.output_item.added", {"output_index": 0, "item": item})
        part = {"type": "output_text", "text": "", "annotations": []}
        add(
            "response.content_part.added",
            {"item_id": "msg_fake", "output_index": 0, "content_index": 0, "part": part},
        )
        for i in range(n):
            add(
                "response.output_text.delta",
                {
                    "item_id": "msg_fake",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": answer_token(i),
                    "logprobs": [],
                },
            )
        text = expected_answer(n)
        add(
            "response.output_text.done",
            {"item_id": "msg_fake", "output_index": 0, "content_index": 0, "text": text, "logprobs": []},
        )
        usage = {
            "input_tokens": prompt_tokens,
            "output_tokens": n,
            "total_tokens": prompt_tokens + n,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        add("response.completed", {"response": self.response_object(model, "completed", text, usage)})
        return events


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests on it are answered one after another."""

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.queue: asyncio.Queue[tuple[bytes, bytes, bytes]] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.writable = asyncio.Event()
        self.writable.set()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        self.worker = asyncio.get_running_loop().create_task(self.serve())

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.worker is not None:
            self.worker.cancel()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        self.queue.put_nowait((method, self.url, b"".join(self.body)))
        self.url = b""
        self.body = []

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    async def write(self, data: bytes) -> bool:
        if self.transport is None:
            return False
        self.transport.write(data)
        if not self.writable.is_set():
            await self.writable.wait()
        return self.transport is not None

    async def serve(self) -> None:
        while True:
            method, url, body = await self.queue.get()
            path = url.split(b"?", 1)[0]
            try:
                await self.answer(method, path, body)
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                await self.send_json(
                    400, b'{"error":{"message":"bad request","type":"invalid_request_error"}}'
                )

    async def send_json(self, status: int, body: bytes) -> None:
        reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"OK")
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (
            status,
            reason,
            len(body),
        )
        await self.write(head + body)

    async def answer(self, method: bytes, path: bytes, body: bytes) -> None:
        up = self.upstream
        if path in (b"/healthz", b"/health"):
            await self.send_json(200, b'{"status":"ok"}')
            return
        if path == b"/v1/models":
            await self.send_json(
                200, b'{"object":"list","data":[{"id":"fake","object":"model","owned_by":"bench"}]}'
            )
            return
        if method != b"POST" or path not in (b"/v1/chat/completions", b"/v1/responses"):
            await self.send_json(404, b'{"error":{"message":"not found","type":"not_found"}}')
            return
        request = json.loads(body)
        model = str(request.get("model", "fake"))
        n, gap_ms = spec_from_model(model, up.tokens, up.gap_ms, last_prompt(request))
        prompt_tokens = max(1, len(body) // 4)
        stream = bool(request.get("stream"))
        if path == b"/v1/chat/completions":
            if not stream:
                await self.send_json(200, up.chat_json(model, n, prompt_tokens))
                return
            usage = bool((request.get("stream_options") or {}).get("include_usage"))
            events = up.chat_events(model, n, usage, prompt_tokens)
        else:
            if not stream:
                text = expected_answer(n)
                usage_obj = {
                    "input_tokens": prompt_tokens,
                    "output_tokens": n,
                    "total_tokens": prompt_tokens + n,
                }
                await self.send_json(
                    200,
                    json.dumps(
                        up.response_object(model, "completed", text, usage_obj), ensure_ascii=False
                    ).encode(),
                )
                return
            events = up.responses_events(model, n, prompt_tokens)
        await self.stream(events, gap_ms / 1000)

    async def stream(self, events: list[bytes], gap: float) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        if gap <= 0:
            # As fast as it can: the whole answer in one write (the kernel paces it).
            await self.write(head + b"".join(_chunked(e) for e in events) + b"0\r\n\r\n")
            return
        # Everything before the first token goes at once; then one token per gap.
        first = 1 if events[0].startswith(b"data: ") else 3  # role chunk / created, item, part
        if not await self.write(head + b"".join(_chunked(e) for e in events[: first + 1])):
            return
        started = time.perf_counter()
        for k, event in enumerate(events[first + 1 :], start=1):
            # Sleep to a schedule, not a fixed pause: gaps do not drift under load.
            delay = started + k * gap - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if not await self.write(_chunked(event)):
                return
        await self.write(b"0\r\n\r\n")


async def main_async(host: str, port: int, tokens: int, gap_ms: float) -> None:
    loop = asyncio.get_running_loop()
    upstream = Upstream(tokens, gap_ms)
    server = await loop.create_server(lambda: Connection(upstream), host, port, backlog=4096)
    print(f"fake upstream on http://{host}:{port} tokens={tokens} gap_ms={gap_ms}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=200, help="tokens per answer")
    parser.add_argument("--gap-ms", type=float, default=10.0, help="pause between tokens (0: no pause)")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the fake upstream serves on loopback only")
    try:
        from uvloop import run
    except ImportError:
        from asyncio import run
    try:
        run(main_async(args.host, args.port, args.tokens, args.gap_ms))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

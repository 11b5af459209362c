"""A stand-in for Anthropic's Messages API, at the HTTP wire level, for tests (Anthropic is
unreachable here).

`FakeAnthropic` is an ASGI app (serve it with `tests.servers.serve`) answering
`POST /v1/messages`, streamed or not, and `POST /v1/messages/count_tokens`, with the bodies and
events the real API sends, in its order and shapes (the field names are those of the
`anthropic` SDK's `types`: `RawMessageStartEvent`, `RawContentBlockDeltaEvent`…):

    event: message_start        {"type":"message_start","message":{… "content":[], "stop_reason":null, "usage":{…}}}
    event: content_block_start  {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}
    event: ping                 {"type":"ping"}
    event: content_block_delta  {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"…"}}
    event: content_block_stop   {"type":"content_block_stop","index":0}
    event: message_delta        {"type":"message_delta","delta":{"stop_reason":…,"stop_sequence":…},"usage":{…}}
    event: message_stop         {"type":"message_stop"}

A call the model makes (`Script.tool_uses`) is a `tool_use` block after the text block (or at
index 0 when there is no text), streamed as Anthropic streams it:

    event: content_block_start  {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":…,"name":…,"input":{}}}
    event: content_block_delta  {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}
    event: content_block_delta  … one per fragment of its input's JSON …
    event: content_block_stop   {"type":"content_block_stop","index":1}

and the message stops with `stop_reason: "tool_use"`; a whole message carries its `input` parsed.

Extended thinking (`Script.thinking`: FakeThinking blocks) comes first, at index 0 on, as
Anthropic streams it:

    event: content_block_start  {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}
    event: content_block_delta  … {"type":"thinking_delta","thinking":"…"} one per fragment …
    event: content_block_delta  {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"…"}}
    event: content_block_stop   {"type":"content_block_stop","index":0}

(a redacted block is `{"type":"redacted_thinking","data":…}` whole at its start); the text
block and the calls follow. The fake checks what Anthropic checks of thinking, with its errors:
`budget_tokens` at least 1024 and below `max_tokens`, and, with thinking on, an assistant turn
of tool_use blocks answered by the request's last tool results must start with its thinking
block, each block given back exactly as sent (a signature it never issued, or issued for other
text, is refused).

Usage, in message_start, message_delta and a whole message, is Anthropic's: `input_tokens` the
prompt's tokens outside the prompt cache, `cache_creation_input_tokens` and
`cache_read_input_tokens` (`Script`) the ones written to and read from it. The fake keeps
`cache_control` where it arrived (in `fake.requests`), for a test to see where it landed.

Errors are `{"type":"error","error":{"type":…,"message":…},"request_id":…}` with the real
statuses; a failure mid-stream is `event: error` with the same body. A test sets `fake.script`
to choose what happens (or `fake.queue`: scripts the next requests take in order, one each, for
a tool round trip); the fake records each request (`fake.requests`: path, headers, the JSON
body as it arrived) and each stream's fate (`fake.streams`: whether its client disconnected
before the end, and when).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

# The stream machinery (recording a client that leaves, dropping a connection) is the OpenAI
# fake's: both fakes stream SSE over uvicorn the same way.
from tests.support.fake_openai import FakeToolCall, Received, StreamRecord, _Drop, _Streamed

# status: (error type, message) as Anthropic answers them.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "temperature: Input should be less than or equal to 1"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: claude-nonexistent"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


@dataclass(frozen=True)
class FakeThinking:
    """A thinking block: its text in fragments (a `thinking_delta` each) and its signature
    (one `signature_delta`, just before the block's end); with `redacted`, a redacted_thinking
    block of that data instead."""

    fragments: Sequence[str] = ()
    signature: str = ""
    redacted: str | None = None

    @property
    def block(self) -> dict[str, Any]:
        """The block whole, as a whole message carries it (and a client gives it back)."""
        if self.redacted is not None:
            return {"type": "redacted_thinking", "data": self.redacted}
        return {"type": "thinking", "thinking": "".join(self.fragments), "signature": self.signature}


@dataclass
class Script:
    """What the fake does with the next requests. Counts are deltas sent before the event."""

    deltas: Sequence[str] = ("Hello", " there", "!")
    delay_seconds: float = 0.0  # before each delta
    status: int | None = None  # answer with this HTTP error instead of a message
    error_message: str | None = None  # for `status` and `fail_after`
    fail_after: int | None = None  # then `event: error`
    error_type: str = "overloaded_error"  # of that mid-stream error
    drop_after: int | None = None  # then close the TCP connection mid-body
    end_after: int | None = None  # then end the body cleanly, with no message_stop
    stop_reason: str | None = None  # end_turn (tool_use with tool_uses) | max_tokens | stop_sequence …
    stop_sequence: str | None = None  # the one that matched, with stop_reason="stop_sequence"
    input_tokens: int = 17  # Anthropic's: the prompt's tokens outside the cache
    # The prompt's tokens written to / read from the prompt cache (apart from input_tokens).
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    output_tokens: int | None = None  # default: one per delta and per call
    # Calls made after the text (FakeToolCall: id, name, the fragments of its input's JSON).
    tool_uses: Sequence[FakeToolCall] = ()
    # Thinking blocks before the text (sent whatever the request asked: a test says when).
    thinking: Sequence[FakeThinking] = ()

    @property
    def ending(self) -> str:
        """The stop reason the message ends with."""
        return self.stop_reason or ("tool_use" if self.tool_uses else "end_turn")


def _sse(event: str, data: dict[str, Any]) -> bytes:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n".encode()


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake0001"}


class FakeAnthropic:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.queue: list[Script] = []  # taken one per request, in order, before `script`
        self.requests: list[Received] = []
        self.streams: list[StreamRecord] = []
        # Each thinking block sent (by its signature, or its redacted data): what is given back
        # must be one of these, unchanged.
        self.issued: dict[str, dict[str, Any]] = {}
        self._app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def reset(self) -> FakeAnthropic:
        """Back to the default script, with no requests or streams recorded."""
        self.script = Script()
        self.queue.clear()
        self.requests.clear()
        self.streams.clear()
        self.issued.clear()
        return self

    def _next_script(self) -> Script:
        return self.queue.pop(0) if self.queue else self.script

    async def _receive(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        port = request.client.port if request.client else None
        self.requests.append(Received(request.url.path, dict(request.headers), body, port))
        return body  # type: ignore[no-any-return]

    def _error(self, status: int, request: Request, script: Script) -> JSONResponse:
        kind, message = ERRORS.get(status, ("api_error", "Something went wrong."))
        if status == 401:
            # Echo the key whole, to prove llmrelay never passes an upstream's 401 text on.
            sent = request.headers.get("x-api-key") or request.headers.get("authorization", "")
            message = f"invalid x-api-key: {sent.removeprefix('Bearer ')}"
        return JSONResponse(
            error_body(kind, script.error_message or message),
            status_code=status,
            headers={"request-id": "req_fake0001"},
        )

    async def _messages(self, request: Request) -> Response:
        body = await self._receive(request)
        script = self._next_script()
        if script.status is not None:
            return self._error(script.status, request, script)
        refused = self._thinking_refusal(body)
        if refused is not None:
            return JSONResponse(error_body("invalid_request_error", refused), status_code=400)
        for thought in script.thinking:
            self.issued[thought.redacted or thought.signature] = thought.block
        if body.get("stream"):
            return _Streamed(self, request.url.path, self._events(script, body))
        return JSONResponse(self._message(script, body, done=True))

    async def _count_tokens(self, request: Request) -> Response:
        await self._receive(request)
        script = self._next_script()
        if script.status is not None:
            return self._error(script.status, request, script)
        return JSONResponse({"input_tokens": script.input_tokens})

    # -- what Anthropic checks of thinking ---------------------------------------------------

    def _thinking_refusal(self, body: dict[str, Any]) -> str | None:
        """Anthropic's 400 for the request's thinking, or None."""
        thinking = body.get("thinking") or {}
        if thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            if budget >= body.get("max_tokens", 0):
                return "`max_tokens` must be greater than `thinking.budget_tokens`."
        messages = body.get("messages") or []
        for at, message in enumerate(messages):
            for index, block in enumerate(message.get("content") or []):
                if isinstance(block, dict) and block.get("type") in ("thinking", "redacted_thinking"):
                    key = (
                        block.get("data") if block["type"] == "redacted_thinking" else block.get("signature")
                    )
                    if self.issued.get(key or "") != block:
                        return f"messages.{at}.content.{index}: Invalid `signature` in `thinking` block"
        if thinking.get("type") not in ("enabled", "adaptive"):
            return None
        # The assistant turn whose calls the last user turn answers must start with thinking.
        last_results = len(messages) - 1
        if last_results < 1 or not any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in messages[-1].get("content") or []
        ):
            return None
        calling = messages[last_results - 1]
        first = (calling.get("content") or [{}])[0]
        if calling.get("role") == "assistant" and first.get("type") not in ("thinking", "redacted_thinking"):
            return (
                f"messages.{last_results - 1}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                f"but found `{first.get('type')}`. When `thinking` is enabled, a final `assistant` "
                "message must start with a thinking block (preceeding the lastmost set of `tool_use` "
                "and `tool_result` blocks)."
            )
        return None

    # -- shapes --------------------------------------------------------------------------

    @staticmethod
    def _output_tokens(script: Script) -> int:
        if script.output_tokens is not None:
            return script.output_tokens
        thoughts = sum(len(thought.fragments) for thought in script.thinking)
        return len(script.deltas) + len(script.tool_uses) + thoughts

    def _message(self, script: Script, body: dict[str, Any], *, done: bool) -> dict[str, Any]:
        """A `message` object: whole (`done`), or as message_start carries it."""
        return {
            "id": "msg_fake0001",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-test"),
            "content": self._content(script) if done else [],
            "stop_reason": script.ending if done else None,
            "stop_sequence": script.stop_sequence if done else None,
            "usage": {
                "input_tokens": script.input_tokens,
                "cache_creation_input_tokens": script.cache_creation_input_tokens,
                "cache_read_input_tokens": script.cache_read_input_tokens,
                # message_start reports the first output token already, as the real API does.
                "output_tokens": self._output_tokens(script) if done else 1,
                "service_tier": "standard",
            },
        }

    @staticmethod
    def _content(script: Script) -> list[dict[str, Any]]:
        text = (
            [{"type": "text", "text": "".join(script.deltas)}]
            if script.deltas or not (script.tool_uses or script.thinking)
            else []
        )
        calls = [
            {
                "type": "tool_use",
                "id": call.id,
                "name": call.name,
                "input": json.loads(call.arguments or "{}"),
            }
            for call in script.tool_uses
        ]
        return [thought.block for thought in script.thinking] + text + calls

    async def _events(self, script: Script, body: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        yield _sse(
            "message_start", {"type": "message_start", "message": self._message(script, body, done=False)}
        )
        for index, thought in enumerate(script.thinking):
            async for piece in self._thinking_block(index, thought):
                yield piece
            if index == 0:
                yield _sse("ping", {"type": "ping"})
        # A message that only calls tools has no text block: its first tool_use comes first.
        has_text = bool(script.deltas) or not (script.tool_uses or script.thinking)
        first = len(script.thinking)
        if has_text:
            yield _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": first,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        if not script.thinking:
            yield _sse("ping", {"type": "ping"})
        for sent in range(len(script.deltas) + 1):
            if sent == script.fail_after:
                message = script.error_message or ERRORS.get(529, ("", "Overloaded"))[1]
                yield _sse("error", error_body(script.error_type, message))
                return
            if sent == script.drop_after:
                raise _Drop
            if sent == script.end_after:
                return
            if sent == len(script.deltas):
                break
            if script.delay_seconds:
                await asyncio.sleep(script.delay_seconds)
            delta = {"type": "text_delta", "text": script.deltas[sent]}
            yield _sse("content_block_delta", {"type": "content_block_delta", "index": first, "delta": delta})
        if has_text:
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": first})
        for offset, call in enumerate(script.tool_uses):
            index = first + offset + has_text
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            yield _sse(
                "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
            )
            # Anthropic opens every tool input with an empty fragment.
            for fragment in ("", *call.fragments):
                delta = {"type": "input_json_delta", "partial_json": fragment}
                yield _sse(
                    "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
        yield _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": script.ending, "stop_sequence": script.stop_sequence},
                "usage": {
                    "input_tokens": script.input_tokens,
                    "cache_creation_input_tokens": script.cache_creation_input_tokens,
                    "cache_read_input_tokens": script.cache_read_input_tokens,
                    "output_tokens": self._output_tokens(script),
                },
            },
        )
        yield _sse("message_stop", {"type": "message_stop"})

    @staticmethod
    async def _thinking_block(index: int, thought: FakeThinking) -> AsyncGenerator[bytes, None]:
        def delta(value: dict[str, Any]) -> bytes:
            return _sse(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": value}
            )

        if thought.redacted is not None:
            block: dict[str, Any] = {"type": "redacted_thinking", "data": thought.redacted}
        else:
            block = {"type": "thinking", "thinking": "", "signature": ""}
        yield _sse(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )
        if thought.redacted is None:
            for fragment in thought.fragments:
                yield delta({"type": "thinking_delta", "thinking": fragment})
            yield delta({"type": "signature_delta", "signature": thought.signature})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})

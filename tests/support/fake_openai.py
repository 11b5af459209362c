"""A stand-in for the OpenAI API, at the HTTP wire level, for tests (OpenAI is unreachable here).

`FakeOpenAI` is an ASGI app (served once per test session: the `fake` fixture of
tests/conftest.py) answering `POST /v1/responses`, `POST /v1/chat/completions` and the legacy
`POST /v1/completions`, streamed (as llmrelay always asks), with the events the real API sends,
in its order and shapes (reasoning and refusals where a script has them; log probabilities
where the request asks: one token per delta, `fake_logprob` each); and `POST /v1/embeddings`
(vectors drawn from a hash of each input, `float` or `base64`). A test sets `fake.script` to choose what happens: the deltas, a pause
before each, an HTTP error, a failure event mid-stream, a connection dropped mid-stream. For an
agent's loop (a call, then an answer once the result is back), `fake.queue` holds scripts the
next requests take in order, one each; once it is empty they all take `fake.script`. The
fake records each request (`fake.requests`) and each stream's fate
(`fake.streams`): whether its client disconnected before the end, and when.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import struct
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

MODEL_SNAPSHOT = "gpt-4o-mini-2024-07-18"

DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    # status: (type, code, message) as OpenAI answers them
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    400: ("invalid_request_error", None, "Invalid value for 'temperature': must be at most 2."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for gpt-4o-mini on requests per min."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


@dataclass(frozen=True)
class FakeToolCall:
    """A call the fake model makes: its arguments streamed as these fragments, in order."""

    id: str
    name: str
    fragments: Sequence[str]

    @property
    def arguments(self) -> str:
        return "".join(self.fragments)


@dataclass
class Script:
    """What the fake does with the next requests. Counts are deltas sent before the event."""

    deltas: Sequence[str] = ("Hello", " there", "!")
    delay_seconds: float = 0.0  # before each delta
    status: int | None = None  # answer with this HTTP error instead of a response
    error_message: str | None = None  # for `status` and for the failures below
    fail_after: int | None = None  # then `response.failed` / chat's `{"error": …}` chunk
    failure_event: Literal["response.failed", "error"] = "response.failed"  # Responses API only
    drop_after: int | None = None  # then close the TCP connection mid-body
    end_after: int | None = None  # then end the body cleanly, with no terminal event
    incomplete_reason: str | None = None  # "max_output_tokens" / "content_filter"
    input_tokens: int = 17  # every prompt token, the cached ones included (OpenAI's count)
    cached_tokens: int = 0  # of input_tokens, those read from the prompt cache
    output_tokens: int | None = None  # default: one per delta
    # Calls made after the text (finish reason tool_calls); `interleave` sends the fragments of
    # parallel calls in turns by index, as some servers do.
    tool_calls: Sequence[FakeToolCall] = ()
    interleave: bool = False
    drop_after_fragments: int | None = None  # then close the TCP connection mid-arguments
    embedding_dimensions: int = 8  # the size of an embedding unless `dimensions` asks for less
    # Reasoning shown before the text: Chat sends it as `delta.<reasoning_field>` (vLLM and
    # DeepSeek: reasoning_content; newer vLLM, OpenRouter: reasoning); the Responses API as a
    # reasoning item's summary (`response.reasoning_summary_text.delta`) before the message.
    reasoning: Sequence[str] = ()
    reasoning_field: str = "reasoning_content"
    # The model declining, after the text: Chat's `delta.refusal`; the Responses API's refusal
    # content part (`response.refusal.delta`) in the message.
    refusal: Sequence[str] = ()

    @property
    def output_count(self) -> int:
        """Output tokens: one per delta of text, reasoning and refusal (unless set)."""
        if self.output_tokens is not None:
            return self.output_tokens
        return len(self.deltas) + len(self.reasoning) + len(self.refusal)

    def tool_pieces(self) -> list[tuple[int, str | None]]:
        """(call index, fragment) in sending order; fragment None is a call's opening piece."""
        opening = [(i, None) for i in range(len(self.tool_calls))]
        if not self.interleave:
            pieces: list[tuple[int, str | None]] = []
            for i, call in enumerate(self.tool_calls):
                pieces += [(i, None), *((i, f) for f in call.fragments)]
            return pieces
        longest = max((len(c.fragments) for c in self.tool_calls), default=0)
        turns = [
            (i, call.fragments[n])
            for n in range(longest)
            for i, call in enumerate(self.tool_calls)
            if n < len(call.fragments)
        ]
        return [*opening, *turns]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    client_port: int | None = None  # the same port twice: the client reused its connection


@dataclass
class StreamRecord:
    path: str
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None  # the fake sent the whole body
    disconnected_at: float | None = None  # the client went away before that

    # Set from the fake's server thread, waited on from a test's event loop.
    _gone: threading.Event = field(default_factory=threading.Event, repr=False)

    def mark_disconnected(self) -> None:
        self.disconnected_at = time.monotonic()
        self._gone.set()

    async def wait_disconnected(self, within: float) -> float:
        """`disconnected_at`, once the client went away; fails if it did not within `within` s."""
        gone = await asyncio.to_thread(self._gone.wait, within)
        assert gone and self.disconnected_at is not None, f"the client of {self.path} never disconnected"
        return self.disconnected_at


class _Drop(Exception):
    """Raised mid-body: uvicorn closes the TCP connection of a response it cannot finish."""


def _sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


class FakeOpenAI:
    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.queue: list[Script] = []  # taken one per request, in order, before `script`
        self.requests: list[Received] = []
        self.streams: list[StreamRecord] = []
        self._ids = itertools.count(1)
        self._app = Starlette(
            routes=[
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completions, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    def reset(self) -> FakeOpenAI:
        """Back to the default script, with no requests or streams recorded."""
        self.script = Script()
        self.queue.clear()
        self.requests.clear()
        self.streams.clear()
        return self

    # -- requests ------------------------------------------------------------------------

    async def _receive(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        port = request.client.port if request.client else None
        self.requests.append(Received(request.url.path, dict(request.headers), body, port))
        return body  # type: ignore[no-any-return]

    def _next_script(self) -> Script:
        return self.queue.pop(0) if self.queue else self.script

    def _error(self, script: Script, request: Request) -> JSONResponse:
        status = script.status or 500
        code: str | None
        if status == 401:
            # The real API echoes a masked key; echo it whole to prove llmrelay never forwards it.
            key = request.headers.get("authorization", "").removeprefix("Bearer ")
            kind, code, message = (
                "invalid_request_error",
                "invalid_api_key",
                f"Incorrect API key provided: {key}.",
            )
        else:
            kind, code, message = DEFAULT_ERRORS.get(status, ("server_error", None, "Something went wrong."))
        error = {"message": script.error_message or message, "type": kind, "param": None, "code": code}
        return JSONResponse({"error": error}, status_code=status)

    @staticmethod
    def _not_streamed() -> JSONResponse:
        # llmrelay always streams from its upstream, even for a whole answer; a request without
        # `stream` is a regression, so the stand-in refuses it instead of answering it.
        message = "The stand-in only answers streamed requests (llmrelay always streams upstream)."
        error = {"message": message, "type": "invalid_request_error", "param": "stream", "code": None}
        return JSONResponse({"error": error}, status_code=400)

    async def _responses(self, request: Request) -> Response:
        body = await self._receive(request)
        script = self._next_script()
        if script.status is not None:
            return self._error(script, request)
        if not body.get("stream"):
            return self._not_streamed()
        return _Streamed(self, request.url.path, self._responses_events(script, body))

    async def _chat(self, request: Request) -> Response:
        body = await self._receive(request)
        script = self._next_script()
        if script.status is not None:
            return self._error(script, request)
        if not body.get("stream"):
            return self._not_streamed()
        return _Streamed(self, request.url.path, self._chat_events(script, body))

    async def _completions(self, request: Request) -> Response:
        body = await self._receive(request)
        script = self._next_script()
        if script.status is not None:
            return self._error(script, request)
        if not body.get("stream"):
            return self._not_streamed()
        return _Streamed(self, request.url.path, self._completion_events(script, body))

    async def _embeddings(self, request: Request) -> Response:
        body = await self._receive(request)
        script = self._next_script()
        if script.status is not None:
            return self._error(script, request)
        given = body.get("input")
        # A string, a list of strings, one token array, or a list of token arrays.
        if isinstance(given, str) or (isinstance(given, list) and given and isinstance(given[0], int)):
            given = [given]
        size = body.get("dimensions") or script.embedding_dimensions
        data = []
        for index, item in enumerate(given or []):
            vector = fake_vector(json.dumps(item), size)
            packed = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            embedding: list[float] | str = packed if body.get("encoding_format") == "base64" else vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(item) if isinstance(item, list) else len(item.split()) for item in given or [])
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # -- the Responses API ---------------------------------------------------------------

    def _response_object(self, script: Script, body: dict[str, Any], stage: str) -> dict[str, Any]:
        """A `response` object: `stage` is in_progress, done, or failed."""
        text = "".join(script.deltas)
        status = {"in_progress": "in_progress", "failed": "failed"}.get(
            stage, "incomplete" if script.incomplete_reason else "completed"
        )
        done = stage == "done"
        return {
            "id": "resp_fake0001",
            "object": "response",
            "created_at": 1_741_476_542,
            "status": status,
            "background": False,
            "error": (
                {"code": "server_error", "message": script.error_message or "The model failed."}
                if stage == "failed"
                else None
            ),
            "incomplete_details": {"reason": script.incomplete_reason}
            if done and script.incomplete_reason
            else None,
            "instructions": None,
            "max_output_tokens": body.get("max_output_tokens"),
            "model": MODEL_SNAPSHOT,
            "output": (
                [
                    *([self._reasoning_item("".join(script.reasoning))] if script.reasoning else []),
                    self._message_item(
                        text,
                        "completed",
                        "".join(script.refusal),
                        responses_logprobs(script, body, bytes_too=True),
                    ),
                    *(
                        self._function_call_item(c, i, "completed", c.arguments)
                        for i, c in enumerate(script.tool_calls)
                    ),
                ]
                if done
                else []
            ),
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "store": True,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self._usage(script, "responses") if done else None,
            "user": None,
            "metadata": {},
        }

    @staticmethod
    def _function_call_item(call: FakeToolCall, index: int, status: str, arguments: str) -> dict[str, Any]:
        return {
            "id": f"fc_fake{index}",
            "type": "function_call",
            "status": status,
            "call_id": call.id,
            "name": call.name,
            "arguments": arguments,
        }

    @staticmethod
    def _reasoning_item(summary: str | None) -> dict[str, Any]:
        parts = [] if summary is None else [{"type": "summary_text", "text": summary}]
        return {"id": "rs_fake0001", "type": "reasoning", "summary": parts, "encrypted_content": None}

    @staticmethod
    def _message_item(
        text: str | None, status: str, refusal: str = "", logprobs: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        content: list[dict[str, Any]] = (
            []
            if text is None
            else [{"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}]
        )
        if refusal:
            content.append({"type": "refusal", "refusal": refusal})
        return {
            "id": "msg_fake0001",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    @staticmethod
    def _usage(script: Script, api: Literal["responses", "chat"]) -> dict[str, Any]:
        out = script.output_count
        if api == "chat":
            return {
                "prompt_tokens": script.input_tokens,
                "completion_tokens": out,
                "total_tokens": script.input_tokens + out,
                "prompt_tokens_details": {"cached_tokens": script.cached_tokens},
            }
        return {
            "input_tokens": script.input_tokens,
            "input_tokens_details": {"cached_tokens": script.cached_tokens},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": script.input_tokens + out,
        }

    async def _responses_events(self, script: Script, body: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        seq = itertools.count()

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, **fields, "sequence_number": next(seq)}, event=kind)

        # A reasoning item first, when the script reasons; then the message; then the calls.
        at = 1 if script.reasoning else 0
        where = {"item_id": "msg_fake0001", "output_index": at}
        yield event("response.created", response=self._response_object(script, body, "in_progress"))
        yield event("response.in_progress", response=self._response_object(script, body, "in_progress"))
        if script.reasoning:
            thought = {"item_id": "rs_fake0001", "output_index": 0, "summary_index": 0}
            yield event("response.output_item.added", output_index=0, item=self._reasoning_item(None))
            part = {"type": "summary_text", "text": ""}
            yield event("response.reasoning_summary_part.added", **thought, part=part)
            for piece in script.reasoning:
                if script.delay_seconds:
                    await asyncio.sleep(script.delay_seconds)
                yield event("response.reasoning_summary_text.delta", **thought, delta=piece)
            summary = "".join(script.reasoning)
            yield event("response.reasoning_summary_text.done", **thought, text=summary)
            yield event("response.reasoning_summary_part.done", **thought, part={**part, "text": summary})
            yield event("response.output_item.done", output_index=0, item=self._reasoning_item(summary))
        yield event(
            "response.output_item.added", output_index=at, item=self._message_item(None, "in_progress")
        )
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield event("response.content_part.added", **where, content_index=0, part=part)
        for sent in range(len(script.deltas) + 1):
            if sent == script.fail_after:
                if script.failure_event == "error":
                    message = script.error_message or "The server had an error while processing your request."
                    yield event("error", code="server_error", message=message, param=None)
                else:
                    yield event("response.failed", response=self._response_object(script, body, "failed"))
                return
            if sent == script.drop_after:
                raise _Drop
            if sent == script.end_after:
                return
            if sent == len(script.deltas):
                break
            if script.delay_seconds:
                await asyncio.sleep(script.delay_seconds)
            yield event(
                "response.output_text.delta",
                **where,
                content_index=0,
                delta=script.deltas[sent],
                logprobs=responses_logprobs(script, body, only=sent),
            )
        text = "".join(script.deltas)
        logprobs = responses_logprobs(script, body)
        yield event("response.output_text.done", **where, content_index=0, text=text, logprobs=logprobs)
        whole = {**part, "text": text, "logprobs": responses_logprobs(script, body, bytes_too=True)}
        yield event("response.content_part.done", **where, content_index=0, part=whole)
        if script.refusal:
            empty = {"type": "refusal", "refusal": ""}
            yield event("response.content_part.added", **where, content_index=1, part=empty)
            for piece in script.refusal:
                yield event("response.refusal.delta", **where, content_index=1, delta=piece)
            refusal = "".join(script.refusal)
            yield event("response.refusal.done", **where, content_index=1, refusal=refusal)
            yield event(
                "response.content_part.done", **where, content_index=1, part={**empty, "refusal": refusal}
            )
        done = self._message_item(
            text, "completed", "".join(script.refusal), responses_logprobs(script, body, bytes_too=True)
        )
        yield event("response.output_item.done", output_index=at, item=done)
        for sent, (index, fragment) in enumerate(script.tool_pieces()):
            if script.drop_after_fragments is not None and sent >= script.drop_after_fragments:
                raise _Drop
            call = script.tool_calls[index]
            if fragment is None:
                item = self._function_call_item(call, index, "in_progress", "")
                yield event("response.output_item.added", output_index=at + 1 + index, item=item)
            else:
                yield event(
                    "response.function_call_arguments.delta",
                    item_id=f"fc_fake{index}",
                    output_index=at + 1 + index,
                    delta=fragment,
                )
        for index, call in enumerate(script.tool_calls):
            yield event(
                "response.function_call_arguments.done",
                item_id=f"fc_fake{index}",
                output_index=at + 1 + index,
                arguments=call.arguments,
            )
            item = self._function_call_item(call, index, "completed", call.arguments)
            yield event("response.output_item.done", output_index=at + 1 + index, item=item)
        final = "response.incomplete" if script.incomplete_reason else "response.completed"
        yield event(final, response=self._response_object(script, body, "done"))

    # -- Chat Completions ----------------------------------------------------------------

    def _chat_finish_reason(self, script: Script) -> str:
        if script.tool_calls:
            return "tool_calls"
        return {"max_output_tokens": "length", "content_filter": "content_filter"}.get(
            script.incomplete_reason or "", "stop"
        )

    async def _chat_events(self, script: Script, body: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
            return _sse(
                {
                    "id": "chatcmpl-fake0001",
                    "object": "chat.completion.chunk",
                    "created": 1_741_476_542,
                    "model": body.get("model", MODEL_SNAPSHOT),
                    "system_fingerprint": "fp_fake",
                    "choices": choices,
                    "usage": usage,
                }
            )

        def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        def choice_with_logprobs(text: str, position: int) -> list[dict[str, Any]]:
            logprobs = chat_logprobs(text, position, body.get("top_logprobs") or 0)
            return [{"index": 0, "delta": {"content": text}, "logprobs": logprobs, "finish_reason": None}]

        # Like the real API: a first chunk with the role and empty content.
        yield chunk(choice({"role": "assistant", "content": "", "refusal": None}))
        for thought in script.reasoning:
            if script.delay_seconds:
                await asyncio.sleep(script.delay_seconds)
            yield chunk(choice({script.reasoning_field: thought}))
        for sent in range(len(script.deltas) + 1):
            if sent == script.fail_after:
                message = script.error_message or "The server had an error while processing your request."
                yield _sse(
                    {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
                )
                return
            if sent == script.drop_after:
                raise _Drop
            if sent == script.end_after:
                return
            if sent == len(script.deltas):
                break
            if script.delay_seconds:
                await asyncio.sleep(script.delay_seconds)
            if body.get("logprobs"):
                yield chunk(choice_with_logprobs(script.deltas[sent], sent))
            else:
                yield chunk(choice({"content": script.deltas[sent]}))
        for piece in script.refusal:
            if script.delay_seconds:
                await asyncio.sleep(script.delay_seconds)
            yield chunk(choice({"refusal": piece}))
        for sent, (index, fragment) in enumerate(script.tool_pieces()):
            if script.drop_after_fragments is not None and sent >= script.drop_after_fragments:
                raise _Drop
            call = script.tool_calls[index]
            if fragment is None:
                piece = {
                    "index": index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            else:
                piece = {"index": index, "function": {"arguments": fragment}}
            if script.delay_seconds:
                await asyncio.sleep(script.delay_seconds)
            yield chunk(choice({"tool_calls": [piece]}))
        yield chunk(choice({}, self._chat_finish_reason(script)))
        if (body.get("stream_options") or {}).get("include_usage"):
            yield chunk([], self._usage(script, "chat"))
        yield _sse("[DONE]")

    # -- legacy completions ---------------------------------------------------------------

    def _completion_object(
        self, script: Script, body: dict[str, Any], text: str, *, final: bool, usage: bool = True
    ) -> dict[str, Any]:
        choice = {
            "text": text,
            "index": 0,
            "logprobs": None,
            "finish_reason": self._chat_finish_reason(script) if final else None,
        }
        out: dict[str, Any] = {
            "id": "cmpl-fake0001",
            "object": "text_completion",
            "created": 1_741_476_542,
            "model": body.get("model", "gpt-3.5-turbo-instruct"),
            "choices": [choice],
            "system_fingerprint": "fp_fake",
        }
        if usage:
            out["usage"] = self._usage(script, "chat")
        return out

    async def _completion_events(self, script: Script, body: dict[str, Any]) -> AsyncGenerator[bytes, None]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        for sent in range(len(script.deltas) + 1):
            if sent == script.fail_after:
                message = script.error_message or "The server had an error while processing your request."
                yield _sse(
                    {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
                )
                return
            if sent == script.drop_after:
                raise _Drop
            if sent == script.end_after:
                return
            if sent == len(script.deltas):
                break
            if script.delay_seconds:
                await asyncio.sleep(script.delay_seconds)
            piece = self._completion_object(script, body, script.deltas[sent], final=False, usage=False)
            if body.get("logprobs") is not None:
                offset = len("".join(script.deltas[:sent]))
                piece["choices"][0]["logprobs"] = legacy_logprobs(
                    script.deltas[sent], sent, offset, body["logprobs"]
                )
            yield _sse(piece)
        # The real API's last choice chunk: empty text, the finish reason.
        yield _sse(self._completion_object(script, body, "", final=True, usage=False))
        if include_usage:
            last = self._completion_object(script, body, "", final=True)
            yield _sse({**last, "choices": []})
        yield _sse("[DONE]")


def fake_logprob(position: int) -> float:
    """The log probability the fake gives its answer's token number `position`: always < 0."""
    return -round(0.05 * (position + 1), 4)


def fake_alternatives(token: str, position: int, count: int) -> list[tuple[str, float]]:
    """`count` likeliest tokens at `position`, most likely first: the chosen one, then others."""
    chosen = fake_logprob(position)
    others = [(f"{token}~{k}", round(chosen - 0.5 * k, 4)) for k in range(1, count)]
    return [(token, chosen), *others][:count]


def chat_logprobs(token: str, position: int, count: int) -> dict[str, Any]:
    """A Chat chunk's `logprobs` for one token, as OpenAI sends it."""

    def entry(text: str, value: float) -> dict[str, Any]:
        return {"token": text, "logprob": value, "bytes": list(text.encode())}

    top = [entry(t, v) for t, v in fake_alternatives(token, position, count)]
    return {"content": [{**entry(token, fake_logprob(position)), "top_logprobs": top}], "refusal": None}


def responses_logprobs(
    script: Script, body: dict[str, Any], *, only: int | None = None, bytes_too: bool = False
) -> list[dict[str, Any]]:
    """The Responses API's `logprobs` of the answer's deltas (one token each), or of delta
    number `only`, when the request's `include` asked for them (else none): the events' shape
    (token, logprob, top_logprobs), or with `bytes_too` the output_text part's."""
    if "message.output_text.logprobs" not in (body.get("include") or ()):
        return []
    count = body.get("top_logprobs") or 0

    def entry(text: str, value: float) -> dict[str, Any]:
        return {"token": text, "logprob": value, **({"bytes": list(text.encode())} if bytes_too else {})}

    positions = range(len(script.deltas)) if only is None else [only]
    return [
        {
            **entry(script.deltas[i], fake_logprob(i)),
            "top_logprobs": [entry(t, v) for t, v in fake_alternatives(script.deltas[i], i, count)],
        }
        for i in positions
    ]


def legacy_logprobs(token: str, position: int, offset: int, count: int) -> dict[str, Any]:
    """A legacy completion chunk's `logprobs` for one token (parallel lists)."""
    return {
        "tokens": [token],
        "token_logprobs": [fake_logprob(position)],
        "top_logprobs": [dict(fake_alternatives(token, position, count))],
        "text_offset": [offset],
    }


def fake_vector(text: str, size: int) -> list[float]:
    """A deterministic vector for `text`, exactly representable as float32 (so base64 and
    float give the same numbers)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(digest[i % len(digest)] - 128) / 128 for i in range(size)]


class _Streamed(Response):
    """Sends SSE frames while watching for the client leaving, and records when it did."""

    def __init__(self, fake: FakeOpenAI, path: str, frames: AsyncGenerator[bytes, None]) -> None:
        super().__init__(media_type="text/event-stream")
        self.fake = fake
        self.frames = frames
        self.record = StreamRecord(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.fake.streams.append(self.record)
        headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"x-request-id", b"req_fake")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        sender = asyncio.ensure_future(self._send_all(send))
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            sender.cancel()
        await asyncio.gather(watcher, sender, return_exceptions=True)
        error = None if sender.cancelled() else sender.exception()
        # On _Drop, returning without finishing the body makes uvicorn close the connection.
        if error is not None and not isinstance(error, _Drop):
            raise error

    async def _send_all(self, send: Send) -> None:
        try:
            async for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
        finally:
            await self.frames.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        self.record.finished_at = time.monotonic()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if self.record.finished_at is None:
            self.record.mark_disconnected()

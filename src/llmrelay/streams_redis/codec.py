"""Log events as Redis Stream entries, and the names of every key and channel llmrelay uses.

An entry is one batch of events (what one write carried): one field, `e`, holding a compact JSON
array of events, each `["t", text]` (with log probabilities `["t", text, [[token, logprob, bytes,
[[token, logprob, bytes], …]], …]]`), `["r", text, summary]` (reasoning), `["s", signature]`
(a reasoning block's end), `["d", data]` (redacted reasoning), `["x", text]` (a refusal),
`["c", index, id, name, arguments]`, `["u", in, out, estimated]` (and `cache write, cache read`
when the upstream reported its prompt cache's counts), `["f", message, status, kind]`
(and the parameter at fault, where one was named) or `["e", reason]` (and the stop sequence,
when the answer ended on one). One entry per batch, not
per event: Redis and redis-py work per command, and a fast upstream's batch is hundreds of
tokens. Its stream id is `<seq of its first event>-0`, so a reader knows each event's position
from the id alone and notices a gap (a log that lost entries).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmrelay.providers.base import (
    Finished,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    Usage,
)
from llmrelay.streams import Failure, LogEvent

FIELD = "e"


def encode_events(events: Sequence[LogEvent]) -> str:
    return json.dumps([_body(e) for e in events], ensure_ascii=False, separators=(",", ":"))


def decode_events(data: bytes | str) -> list[LogEvent]:
    return [_event(body) for body in json.loads(data)]


def _body(event: LogEvent) -> list[Any]:
    body: list[Any]
    if isinstance(event, TextDelta):
        body = ["t", event.text]
        if event.logprobs:
            body.append([_logprob_body(lp) for lp in event.logprobs])
    elif isinstance(event, ReasoningDelta):
        body = ["r", event.text, event.summary]
    elif isinstance(event, ReasoningSignature):
        body = ["s", event.signature]
    elif isinstance(event, RedactedReasoning):
        body = ["d", event.data]
    elif isinstance(event, RefusalDelta):
        body = ["x", event.text]
    elif isinstance(event, ToolCallDelta):
        body = ["c", event.index, event.id, event.name, event.arguments]
    elif isinstance(event, Usage):
        body = ["u", event.input_tokens, event.output_tokens, event.estimated]
        if event.cache_write_tokens is not None or event.cache_read_tokens is not None:
            body += [event.cache_write_tokens, event.cache_read_tokens]
    elif isinstance(event, Failure):
        body = ["f", event.message, event.status, event.kind]
        if event.param is not None:
            body.append(event.param)
    elif event.stop_sequence is None:
        body = ["e", event.reason]
    else:
        body = ["e", event.reason, event.stop_sequence]
    return body


def _event(body: list[Any]) -> LogEvent:
    kind = body[0]
    if kind == "t":
        if len(body) > 2:
            return TextDelta(body[1], tuple(_logprob_of(item) for item in body[2]))
        return TextDelta(body[1])
    if kind == "r":
        return ReasoningDelta(body[1], body[2])
    if kind == "s":
        return ReasoningSignature(body[1])
    if kind == "d":
        return RedactedReasoning(body[1])
    if kind == "x":
        return RefusalDelta(body[1])
    if kind == "c":
        return ToolCallDelta(body[1], body[2], body[3], body[4])
    if kind == "u":
        if len(body) > 4:
            return Usage(body[1], body[2], body[3], body[4], body[5])
        return Usage(body[1], body[2], body[3])
    if kind == "f":
        return Failure(body[1], body[2], body[3], body[4] if len(body) > 4 else None)
    if kind == "e":
        return Finished(body[1], body[2] if len(body) > 2 else None)
    raise ValueError(f"unknown log entry kind {kind!r}")


def _logprob_body(logprob: TokenLogprob) -> list[Any]:
    raw = None if logprob.bytes is None else list(logprob.bytes)
    body: list[Any] = [logprob.token, logprob.logprob, raw]
    if logprob.top:
        body.append([_logprob_body(alternative) for alternative in logprob.top])
    return body


def _logprob_of(body: list[Any]) -> TokenLogprob:
    raw = None if body[2] is None else tuple(body[2])
    top = tuple(_logprob_of(item) for item in body[3]) if len(body) > 3 else ()
    return TokenLogprob(body[0], body[1], raw, top)


def entry_id(seq: int) -> str:
    return f"{seq}-0"


def entry_seq(entry: bytes | str) -> int:
    text = entry.decode() if isinstance(entry, bytes) else entry
    return int(text.partition("-")[0])


@dataclass(frozen=True)
class Keys:
    """Every Redis name, under one prefix (LLMRELAY_REDIS_PREFIX)."""

    prefix: str

    def log(self, generation_id: str, epoch: str) -> str:
        """The Stream of one instance of a generation's log: a new epoch is a new key."""
        return f"{self.prefix}log:{generation_id}:{epoch}"

    def generation(self, generation_id: str) -> str:
        """Hash: owner, epoch, meta (JSON), state (running / finished)."""
        return f"{self.prefix}gen:{generation_id}"

    @property
    def running(self) -> str:
        """Hash: generation id -> owner process, for every generation still running anywhere."""
        return f"{self.prefix}running"

    def process(self, process_id: str) -> str:
        """A process's heartbeat: exists while the process lives (a short TTL, refreshed)."""
        return f"{self.prefix}proc:{process_id}"

    def control(self, process_id: str) -> str:
        """Pub/sub channel of one process: cancel, attach, detach for generations it owns."""
        return f"{self.prefix}ctl:{process_id}"

    def listeners(self, generation_id: str) -> str:
        """Hash: process id -> how many listen to the generation there (owner's own not counted)."""
        return f"{self.prefix}listeners:{generation_id}"

    def claim(self, generation_id: str) -> str:
        """Who finishes a generation whose owner died (SET NX: exactly one process)."""
        return f"{self.prefix}claim:{generation_id}"

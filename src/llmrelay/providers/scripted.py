"""A deterministic provider: it answers with a script, through the real request path.

Tests and benchmarks use it to drive everything around a model (SSE, streams, the store)
without a model's cost or randomness. A script can also fail, before or after its first delta.
Its answer ends at the first of the request's stop sequences, and says which one (as
Anthropic's `stop_sequence` does).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import struct
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Self

from llmrelay.accounting import prompt_tokens
from llmrelay.providers.base import (
    EmbeddingRequest,
    Embeddings,
    Finished,
    GenerationRequest,
    InvalidParameter,
    ProviderError,
    ProviderEvent,
    ProviderInfo,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from llmrelay.providers.config import KindConfig, NonNegativeSeconds
from llmrelay.stops import StopMatcher

if TYPE_CHECKING:
    from llmrelay.settings import Settings

_WORDS = re.compile(r"\s*\S+|\s+")

# The size of the scripted provider's embeddings (its "n_embd").
SCRIPTED_DIMENSIONS = 16


def split_into_deltas(text: str) -> list[str]:
    """Split like a tokenizer would, roughly: each word with the space before it."""
    return _WORDS.findall(text) or [text]


@dataclass
class Script:
    deltas: Sequence[str]
    delay_seconds: float = 0.0
    # Raise this error after `fail_after` deltas (0 = before the first one).
    error: ProviderError | None = None
    fail_after: int = 0
    finish_reason: str = "stop"
    # Calls made after the text, each in two pieces (opening, then its arguments whole).
    tool_calls: Sequence[ToolCall] = ()


class ScriptedConfig(KindConfig):
    """`provider = "scripted"`: answers with a fixed reply, word by word (tests, benchmarks)."""

    provider: Literal["scripted"]
    # The name it reports as its model (default: the entry's name).
    model: str | None = None
    # Default LLMRELAY_SCRIPTED_REPLY.
    reply: str | None = None
    # Pause between deltas; default LLMRELAY_SCRIPTED_DELAY_SECONDS.
    delay_seconds: NonNegativeSeconds | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        name = settings.model or "scripted"
        return cls.model_validate({"name": name, "provider": "scripted"})

    async def build(self, settings: Settings) -> ScriptedProvider:
        reply = settings.scripted_reply if self.reply is None else self.reply
        delay = settings.scripted_delay_seconds if self.delay_seconds is None else self.delay_seconds
        script = Script(split_into_deltas(reply), delay_seconds=delay)
        return ScriptedProvider(script, model=self.model or self.name)


class ScriptedProvider:
    def __init__(self, script: Script, *, model: str = "scripted") -> None:
        self.script = script
        # A script answers with its own words: it honours no structured output or sampling
        # controls, and tools only when it is scripted to call one.
        cannot = {"response_format", "seed", "presence_penalty", "frequency_penalty", "top_k", "logprobs"}
        if not script.tool_calls:
            cannot.add("tools")
        self.info = ProviderInfo(
            name="scripted", model=model, context_tokens=1_000_000, cannot=frozenset(cannot)
        )
        # What the provider was asked, newest last: tests read it to see history arrive.
        self.requests: list[GenerationRequest] = []
        # How many generations are running now, and how many were cancelled.
        self.active = 0
        self.cancelled = 0

    @classmethod
    def replying(cls, text: str, delay_seconds: float = 0.0) -> ScriptedProvider:
        return cls(Script(split_into_deltas(text), delay_seconds=delay_seconds))

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        self.requests.append(request)
        script = self.script
        self.active += 1
        try:
            sent = 0
            limit = request.max_tokens
            # The script's words end at the first of the request's stop sequences, as a model's do.
            stops = StopMatcher(request.stop)
            for delta in script.deltas:
                if script.error is not None and sent == script.fail_after:
                    raise script.error
                if limit is not None and sent >= limit:
                    break
                if script.delay_seconds:
                    await asyncio.sleep(script.delay_seconds)
                passed = stops.feed(delta)
                # An empty delta of the script is sent as it is (a client must cope with one);
                # text held back by a possible stop sequence is not an empty delta.
                if passed or (not delta and stops.matched is None):
                    yield TextDelta(passed)
                sent += 1
                if stops.matched is not None:
                    break
            if held := stops.flush():
                yield TextDelta(held)
            if script.error is not None and sent == script.fail_after:
                raise script.error
            prompt = prompt_tokens(self, request)
            if stops.matched is not None:
                yield Usage(input_tokens=prompt, output_tokens=sent)
                yield Finished("stop", stop_sequence=stops.matched)
                return
            for index, call in enumerate(script.tool_calls):
                yield ToolCallDelta(index, id=call.id, name=call.name)
                yield ToolCallDelta(index, arguments=call.arguments)
            yield Usage(input_tokens=prompt, output_tokens=sent)
            truncated = limit is not None and sent < len(script.deltas)
            reason = "tool_calls" if script.tool_calls else script.finish_reason
            yield Finished("length" if truncated else reason)  # type: ignore[arg-type]
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        finally:
            self.active -= 1

    def count_tokens(self, text: str) -> int:
        return len(split_into_deltas(text)) if text else 0

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """A vector made from a hash of each text: the same text, the same vector. It takes
        what the embedded model takes (texts, its own size), so it stands in for it in tests."""
        texts = [item for item in request.inputs if isinstance(item, str)]
        if len(texts) < len(request.inputs):
            raise InvalidParameter("input", "input: this model takes text, not token arrays.")
        if request.dimensions not in (None, SCRIPTED_DIMENSIONS):
            raise InvalidParameter(
                "dimensions",
                f"dimensions: this model's embeddings have {SCRIPTED_DIMENSIONS} dimensions, no other.",
            )
        vectors = [hashed_vector(text, SCRIPTED_DIMENSIONS) for text in texts]
        return Embeddings(vectors, sum(self.count_tokens(text) for text in texts))

    async def aclose(self) -> None:
        return None


def hashed_vector(text: str, dimensions: int) -> list[float]:
    """A unit vector drawn from SHAKE-256 of `text`: deterministic, and different texts differ."""
    raw = struct.unpack(f"<{dimensions}I", hashlib.shake_256(text.encode("utf-8")).digest(4 * dimensions))
    centred = [value / 2**31 - 1.0 for value in raw]
    norm = math.sqrt(sum(x * x for x in centred)) or 1.0
    return [x / norm for x in centred]

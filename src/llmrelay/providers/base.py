"""The one small protocol every model backend speaks.

A provider turns a `GenerationRequest` into an async stream of events: text deltas and tool
call pieces (and, where the model shows them, reasoning and refusal deltas, and the ends of
signed reasoning blocks), then at most
one `Usage`, then one `Finished`. It raises `ProviderError` for anything that goes wrong
upstream. Cancelling the consuming task must stop the upstream work (close the HTTP stream,
stop decoding): that is how llmrelay stops paying for tokens nobody reads.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]

# A prompt-caching breakpoint as Anthropic's `cache_control` says it ({"type": "ephemeral"},
# maybe a "ttl"), kept as the client gave it: the prompt up to and including the part that
# carries it may be cached upstream. Only a provider whose API caches by breakpoints (Anthropic)
# sends it on; every other one ignores it — caching saves cost and time, the answer is the same.
CacheControl = dict[str, Any]

# Where a provider's HTTP client notes when its upstream request was sent (perf_counter), set by
# whoever runs the stream (streams.Generation) for its own task: the time before it is
# llmrelay's (the SDK building the request), the time after it the upstream's (overhead.py).
_sent_times: ContextVar[list[float] | None] = ContextVar("llmrelay_upstream_sent", default=None)


def note_requests_sent(into: list[float]) -> None:
    """From here on in this task, `request_sent()` appends its time to `into`."""
    _sent_times.set(into)


def request_sent() -> None:
    """An upstream request of the running stream is on its way (its HTTP client's hook)."""
    times = _sent_times.get()
    if times is not None:
        times.append(time.perf_counter())


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model made: `arguments` is the JSON text it wrote (not parsed: a client
    gets it byte for byte)."""

    id: str
    name: str
    arguments: str
    # A cache breakpoint on the call's tool_use block (CacheControl).
    cache: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    """One block of reasoning an assistant showed in an earlier turn, kept to be given back to
    the model that wrote it exactly as it came: an Anthropic thinking block (`text` and its
    `signature`, which Anthropic checks), or a redacted_thinking block (`redacted`: its opaque,
    encrypted data; no text). Reasoning from a model that signs nothing has signature "".
    Providers whose API has no place for it leave it out of the prompt: it is the model's own
    earlier reasoning, not something the user said."""

    text: str = ""
    signature: str = ""
    redacted: str | None = None


@dataclass(frozen=True, slots=True)
class TextPart:
    """One block of a message's text as the client gave it, with the cache breakpoint it
    carries (CacheControl), if any."""

    text: str
    cache: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation: its text, and where the content model goes beyond
    text, the images a user sent (URLs or data URLs), the tool calls an assistant made, the
    reasoning blocks it showed before them, or (role "tool") the call a tool result answers.

    Cache breakpoints (CacheControl) ride on the parts they were put on: `text_parts` is the
    text's blocks as given, kept only when one of them carries a breakpoint (`content` is still
    their join, what every provider but Anthropic reads); `image_caches` one per image (empty
    when none has one); `cache` a tool message's breakpoint (on its tool_result block)."""

    role: Role
    content: str
    images: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    reasoning: tuple[ReasoningBlock, ...] = ()
    text_parts: tuple[TextPart, ...] = ()
    image_caches: tuple[CacheControl | None, ...] = ()
    cache: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call; `parameters` is its JSON schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    # A cache breakpoint on the tool's definition (CacheControl): the tools up to it are cached.
    cache: CacheControl | None = None


# "auto": the model chooses; "none": text only; "required": some tool; a name: that tool.
ToolChoice = Literal["auto", "none", "required"] | str


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """Structured output: any JSON object, or JSON matching `schema`."""

    type: Literal["json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class Thinking:
    """Extended thinking as Anthropic's Messages API asks for it: `enabled` with a budget of
    thinking tokens (an upper bound, below `max_tokens`), `adaptive` (the model decides),
    `disabled`, or `between_tools`; `display` whether the thinking text is shown (`summarized`)
    or only its signature (`omitted`). Only a provider whose API has extended thinking acts on
    it; a model without any answers with no thinking at all, which every one of these allows
    (zero thinking tokens are within any budget)."""

    type: Literal["enabled", "adaptive", "disabled", "between_tools"]
    budget_tokens: int | None = None
    display: Literal["summarized", "omitted"] | None = None


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    messages: Sequence[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    # Sample from the k likeliest tokens only (providers that lack it list it in `cannot`).
    top_k: int | None = None
    stop: Sequence[str] = ()
    # The upstream model name; None means the provider's own default.
    model: str | None = None
    tools: Sequence[Tool] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    # Raw text to continue, with no chat template (/v1/completions); `messages` is then empty.
    prompt: str | None = None
    # Log probabilities of the answer's tokens, each with this many likeliest alternatives
    # (0: the chosen token's alone); None: not asked for (providers that cannot list it in `cannot`).
    logprobs: int | None = None
    # Extended thinking (None: the provider's default, which is none where it has to be asked).
    thinking: Thinking | None = None
    # How much effort the model should spend (Anthropic's output_config.effort: low … max), a
    # hint only an API that has it takes; a model with one way of answering answers that way.
    effort: str | None = None


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One token of an answer and its log probability (natural log, <= 0); `top` the likeliest
    tokens at its place, most likely first (their own `top` empty). `bytes`: the token's UTF-8
    bytes where the model gave them (a token may be part of a character); None: its text's."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    # The tokens of `text` with their log probabilities, when the request asked for them.
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Reasoning the model showed before (or between) its answer: never part of the answer's
    text. `summary`: a summary of it (the Responses API's reasoning summaries), not the
    reasoning itself (Chat servers' `reasoning_content`)."""

    text: str
    summary: bool = False


@dataclass(frozen=True, slots=True)
class ReasoningSignature:
    """One block of reasoning is complete, with the `signature` its API gave it (Anthropic's
    thinking blocks; it comes last, after the block's text): the reasoning deltas since the
    previous block ended are that block's text, and both are needed, unchanged, to give the
    block back in a later turn. A model that signs nothing ends no block this way."""

    signature: str


@dataclass(frozen=True, slots=True)
class RedactedReasoning:
    """A block of reasoning the model's API gave encrypted (Anthropic's redacted_thinking):
    nothing to read, only `data` to give back unchanged in a later turn."""

    data: str


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    """The model declining to answer, in its words (OpenAI's `refusal`): shown apart from the
    answer's text by the surfaces that have a place for it."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call as it streams: the first piece of call `index` carries its `id`
    and `name`; later pieces carry fragments of its `arguments` (of any size, empty too)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one answer took. `input_tokens` is ALL the prompt's tokens, cached or not (as
    OpenAI's `prompt_tokens` counts them; Anthropic's own `input_tokens` leaves cached ones out,
    and its provider adds them in): that is what keys' limits, budgets and metrics count.
    `cache_write_tokens` / `cache_read_tokens`: how many of them were written to / read from
    the upstream's prompt cache, where it said (None: none, or not reported — a count of 0 is
    kept as None too: the same to every reader, and one less thing to store per answer)."""

    input_tokens: int | None
    output_tokens: int | None
    # True when llmrelay counted (or estimated) what the provider did not report.
    estimated: bool = False
    cache_write_tokens: int | None = None
    cache_read_tokens: int | None = None


FinishReason = Literal["stop", "length", "cancelled", "error", "content_filter", "tool_calls"]


@dataclass(frozen=True, slots=True)
class Finished:
    reason: FinishReason = "stop"
    # The request's stop sequence the answer ended on (reason "stop"), where the provider knows
    # which one matched; None when it ended otherwise, or the provider cannot tell.
    stop_sequence: str | None = None


ProviderEvent = (
    TextDelta
    | ReasoningDelta
    | ReasoningSignature
    | RedactedReasoning
    | RefusalDelta
    | ToolCallDelta
    | Usage
    | Finished
)


class ProviderError(Exception):
    """Something went wrong upstream. `status` is what an HTTP client should see.

    The message must be safe to show to a user: no keys, no stack traces.
    """

    status: int = 502
    kind: str = "upstream_error"

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind


class UpstreamAuthError(ProviderError):
    status = 502
    kind = "upstream_auth"


class UpstreamRateLimited(ProviderError):
    status = 429
    kind = "rate_limited"


class UpstreamUnavailable(ProviderError):
    status = 503
    kind = "upstream_unavailable"


class UpstreamTimeout(ProviderError):
    status = 504
    kind = "upstream_timeout"


class BadGenerationRequest(ProviderError):
    status = 400
    kind = "invalid_request"


class InvalidParameter(BadGenerationRequest):
    """A parameter this provider cannot take as given; `param` names it as OpenAI does
    (`dimensions`, `input[2]`), so a /v1 client learns which one. The message is a sentence
    that names it too (it is also what other routes show)."""

    kind = "unsupported_parameter"

    def __init__(self, param: str, message: str, *, kind: str | None = None) -> None:
        super().__init__(message, kind=kind)
        self.param = param


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What a provider is, for logs, the store and `/v1/models`."""

    name: str
    model: str
    context_tokens: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Whether the model can take images; a request with one is refused (400) where it cannot.
    sees_images: bool = False
    # `GenerationRequest` fields this provider cannot honour (its API lacks them): a request
    # that sets one is refused with a 400 naming it, never quietly answered without it.
    cannot: frozenset[str] = frozenset()


class Provider(Protocol):
    info: ProviderInfo

    def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Generate; closing the generator (or cancelling its consumer) stops the upstream work."""
        ...

    async def aclose(self) -> None:
        """Release clients, threads and model memory."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model (an estimate where the model is remote)."""
        ...


@runtime_checkable
class PromptCounter(Protocol):
    """What a provider that can count a whole prompt as its model sees it adds to `Provider`
    (an optional capability, for /v1/messages/count_tokens): the chat template, the tools and
    images included, where `count_tokens` only sees texts one by one. Raises `ProviderError`
    when the count cannot be had (an upstream that refuses the request)."""

    async def count_prompt(self, request: GenerationRequest) -> int: ...


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    # Texts, or token arrays (lists of token ids) for a provider that takes them.
    inputs: Sequence[str] | Sequence[Sequence[int]]
    # Shorter vectors, where the model can give them; None means its own size.
    dimensions: int | None = None
    # The upstream model name; None means the provider's own default.
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Embeddings:
    # One vector per input, in the inputs' order.
    vectors: Sequence[Sequence[float]]
    prompt_tokens: int


@runtime_checkable
class Embedder(Protocol):
    """What a provider that can embed adds to `Provider` (an optional capability: a provider
    without it makes /v1/embeddings answer that this model cannot embed).

    `embed` raises `InvalidParameter` for what it cannot honour (token arrays, `dimensions`),
    `ProviderError` for anything else that goes wrong; cancelling it must not leave a model
    context in use by two threads."""

    async def embed(self, request: EmbeddingRequest) -> Embeddings: ...

"""A generation runs as its own task and writes an append-only event log; listeners come and go.

Why: an HTTP connection is a poor owner for a model's answer. A browser that drops and
reconnects with `Last-Event-ID` should get the missing events of the *same* answer, not ask
the model again; and an answer nobody reads any more should stop costing tokens. So:

- `Generation` pulls a provider's stream in a task and appends each event to its log
  (position `seq` 1, 2, …; the log always ends with one `Finished`).
- `Generation.listen(after=n)` replays the log from n and then follows it live. Any number of
  listeners may attach; when the last one leaves, the generation goes on for `grace` seconds
  and is cancelled if nobody came back.
- `StreamRegistry` finds generations by id, and forgets finished ones after a retention time.

`EventLog` is the seam for a shared log: the generation only appends to it and listeners only
read from it and wait on it. `Sharing` is the seam for several processes (llmrelay.streams_redis):
it makes each generation's log, finds generations other processes own, and counts listeners
elsewhere; without it (`sharing=None`) everything stays in this process.

The log carries the provider's text (and tool-call pieces, reasoning, refusals), then, once at the end, the tokens spent (the provider's
counts or llmrelay's estimate, `accounting.spent_tokens`), a `Failure` if it failed, and one
`Finished`. So a renderer needs nothing but the log, on this process or (later) another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from llmrelay.accounting import spent_tokens
from llmrelay.answer import CONTENT_EVENTS, AnswerParts
from llmrelay.providers.base import (
    Finished,
    FinishReason,
    GenerationRequest,
    Provider,
    ProviderError,
    ProviderEvent,
    ReasoningBlock,
    TokenLogprob,
    ToolCall,
    Usage,
    note_requests_sent,
)
from llmrelay.store.records import NO_KEY_OWNER

log = logging.getLogger(__name__)


# A generation's grace period that never ends: it runs to its end with nobody listening.
DETACHED = float("inf")


@dataclass(frozen=True, slots=True)
class Failure:
    """The generation failed; `message` is safe to show, `status` is the HTTP status it maps to."""

    message: str
    status: int = 502
    kind: str = "upstream_error"
    # The request parameter at fault, where the provider named one (`InvalidParameter`).
    param: str | None = None


# What a provider streams, logged as it came (reasoning and refusal deltas like text: replayed
# and resumed exactly as it is, and so are the signatures ending reasoning blocks, and redacted
# reasoning), and the failure that may end it.
LogEvent = ProviderEvent | Failure


class EventLog(Protocol):
    """Append-only events of one generation, readable from any position while it grows.

    `epoch` names one instance of a shared log (None for an in-process one): it goes into event
    ids, so a client can never resume one log with a position from another."""

    epoch: str | None

    def append(self, event: LogEvent) -> None: ...

    def read(self, after: int) -> list[LogEvent]: ...

    def __len__(self) -> int: ...

    async def wait_beyond(self, length: int) -> None:
        """Return once the log is longer than `length` (or closed)."""
        ...

    async def opened(self) -> bool:
        """Wait until whoever may read the log can find it (a shared log: registered in Redis);
        False if they never will, and its generation has been stopped for it."""
        ...

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


class MemoryEventLog:
    """The in-process log: a list and one future that wakes every waiting listener."""

    __slots__ = ("_closed", "_events", "_waiter")

    epoch: str | None = None

    def __init__(self) -> None:
        self._events: list[LogEvent] = []
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def append(self, event: LogEvent) -> None:
        self._events.append(event)
        self._wake()

    def read(self, after: int) -> list[LogEvent]:
        return self._events[after:]

    def __len__(self) -> int:
        return len(self._events)

    async def wait_beyond(self, length: int) -> None:
        if len(self._events) > length or self._closed:
            return
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        # shield: one listener being cancelled must not cancel the others' shared future.
        await asyncio.shield(self._waiter)

    async def opened(self) -> bool:
        return True  # read in this process only: found as soon as it exists

    def close(self) -> None:
        self._closed = True
        self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class Identity:
    """What a generation is, for whoever records it: which route asked, for which model name
    (the client's name for it), on behalf of which stored key (None: an environment key, or
    no keys at all)."""

    route: str
    model: str
    key_id: str | None = None
    # The tenant it belongs to (records.Owner): only its owner may attach, resume or cancel.
    owner: str = NO_KEY_OWNER
    # How the caller's key is named in logs and per-key metrics (never the key itself).
    key_label: str = ""


@dataclass
class GenerationResult:
    """What a finished generation produced: the store and the logs read this."""

    text: str
    finish_reason: FinishReason
    # Tokens spent, reported or estimated (`usage.estimated`); None when nothing was spent.
    usage: Usage | None
    failure: Failure | None
    ttft_seconds: float | None
    duration_seconds: float
    # The calls the model made (finish reason "tool_calls"), put together from their pieces.
    tool_calls: tuple[ToolCall, ...] = ()
    # The stop sequence the answer ended on, where the provider said which (`Finished`).
    stop_sequence: str | None = None
    # What the model showed of its reasoning, and its refusal: never part of `text`.
    reasoning: str = ""
    refusal: str = ""
    # Whether `reasoning` is a summary of it (the Responses API's kind) or the reasoning itself.
    reasoning_summary: bool = False
    # The reasoning as the blocks it came in, each with its signature (or redacted data): what
    # a client gives back to the model in its next turn (Anthropic's thinking blocks).
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()
    # The answer's tokens with their log probabilities, when the request asked for them.
    logprobs: tuple[TokenLogprob, ...] = ()

    @property
    def said(self) -> str:
        """What a person reads of the answer where a surface has only text: the text, and a
        refusal (why there is no answer) after it."""
        return self.text + self.refusal


OnEnd = Callable[["Generation", GenerationResult], Awaitable[None]]
# Told of every generation's end, synchronously and once (metrics hang here).
Observer = Callable[["Generation", GenerationResult], None]


@dataclass(eq=False)
class Generation:
    id: str
    provider: Provider
    request: GenerationRequest
    grace_seconds: float
    identity: Identity
    on_end: OnEnd | None = None
    log: EventLog = field(default_factory=MemoryEventLog)
    # Free-form facts for whoever started it (conversation id, message id…).
    meta: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    # When the log got its first event (a delta, or the failure that means it never started).
    first_event_at: float | None = None
    # When the provider's HTTP client sent its request(s) upstream (providers.base.request_sent).
    _requests_sent: list[float] = field(default_factory=list)
    result: GenerationResult | None = None
    # Listeners in other processes (Sharing.remote_listeners); None: nobody can listen elsewhere.
    remote_listeners: Callable[[], Awaitable[int]] | None = None
    _task: asyncio.Task[None] | None = None
    # Futures waiting for the first event (`first_event_future`), resolved by `_emit`.
    _first_waiters: list[asyncio.Future[LogEvent]] = field(default_factory=list)
    _listeners: int = 0
    _grace_timer: asyncio.TimerHandle | None = None
    # Why it was stopped, when that is a failure to report (a spent budget), not a cancel.
    _stopped_by: Failure | None = None
    # Its provider is done and it is recording its end: too late to cancel (that would cancel
    # the recording, and the log would never end).
    _ending: bool = False
    _checks: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"gen-{self.id}")

    @property
    def finished(self) -> bool:
        return self.log.closed

    @property
    def upstream_since(self) -> float:
        """Since when the answer waits for its upstream: its (first) HTTP request's sending, for
        providers that make one; its start otherwise (the embedded model computes from there)."""
        return self._requests_sent[0] if self._requests_sent else self.started_at

    @property
    def finished_at(self) -> float | None:
        return None if self.result is None else self.started_at + self.result.duration_seconds

    @property
    def listeners(self) -> int:
        return self._listeners

    def cancel(self) -> bool:
        """Stop generating now; what there is so far is kept. False if already finished."""
        if self._task is None or self._task.done() or self._ending:
            return False
        self._task.cancel()
        return True

    def stop(self, failure: Failure) -> bool:
        """Stop generating now because of `failure` (e.g. the key's budget is spent, or its
        shared log cannot be written): the answer ends as failed with that message, keeping
        what there is so far."""
        if self._stopped_by is None:
            self._stopped_by = failure
        return self.cancel()

    async def wait_first_event(self) -> LogEvent:
        """The first event: a delta means the stream is open; a Failure means it never was."""
        await self.log.wait_beyond(0)
        return self.log.read(0)[0]

    def first_event_future(self) -> asyncio.Future[LogEvent]:
        """A future of the first event, for racing it against something else without a task
        per wait (`api.disconnect.first_event`); cancelling it concerns nobody else."""
        future: asyncio.Future[LogEvent] = asyncio.get_running_loop().create_future()
        if len(self.log):
            future.set_result(self.log.read(0)[0])
        else:
            self._first_waiters.append(future)
        return future

    async def wait_finished(self) -> GenerationResult:
        while not self.finished:
            await self.log.wait_beyond(len(self.log))
        assert self.result is not None
        return self.result

    async def listen(self, after: int = 0) -> AsyncIterator[list[tuple[int, LogEvent]]]:
        """Batches of (seq, event) after `after`, replayed then live, until the log ends.

        Batches, not single events: a slow listener catches up in one write, not many.
        """
        self._attach()
        try:
            position = after
            while True:
                events = self.log.read(position)
                if events:
                    yield [(position + i + 1, event) for i, event in enumerate(events)]
                    position += len(events)
                    continue
                if self.finished:
                    return
                await self.log.wait_beyond(position)
        finally:
            self._detach()

    def _attach(self) -> None:
        self._listeners += 1
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None

    def _detach(self) -> None:
        self._listeners -= 1
        self._nobody_here()

    def remote_attached(self) -> None:
        """Someone listens in another process: no grace period runs out meanwhile."""
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None

    def remote_detached(self) -> None:
        """A listener in another process left: if nobody listens here, the grace period starts."""
        if self._grace_timer is None:
            self._nobody_here()

    def _nobody_here(self) -> None:
        if self._listeners > 0 or self.finished:
            return
        if self.grace_seconds <= 0:
            self._grace_expired()
        elif self.grace_seconds == DETACHED:
            return  # runs to its end whoever listens (a background response)
        else:
            loop = asyncio.get_running_loop()
            self._grace_timer = loop.call_later(self.grace_seconds, self._grace_expired)

    def _grace_expired(self) -> None:
        self._grace_timer = None
        if self._listeners > 0:
            return
        if self.remote_listeners is None:
            self._stop_unheard()
            return
        # Listeners elsewhere are counted in the shared store: ask it before stopping.
        check = asyncio.get_running_loop().create_task(self._stop_if_nobody_anywhere())
        self._checks.add(check)
        check.add_done_callback(self._checks.discard)

    async def _stop_if_nobody_anywhere(self) -> None:
        assert self.remote_listeners is not None
        try:
            elsewhere = await self.remote_listeners()
        except Exception:
            log.exception("generation %s: cannot count its listeners elsewhere; stopping it", self.id)
            elsewhere = 0
        if elsewhere == 0 and self._listeners == 0 and self._grace_timer is None:
            self._stop_unheard()

    def _stop_unheard(self) -> None:
        if self.cancel() and self.grace_seconds > 0:
            log.info("generation %s: nobody listened for %.1fs, stopped", self.id, self.grace_seconds)

    def _emit(self, event: LogEvent) -> None:
        if self.first_event_at is None:
            self.first_event_at = time.perf_counter()
            waiters, self._first_waiters = self._first_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(event)
        self.log.append(event)

    async def _run(self) -> None:
        parts = AnswerParts()
        reported: Usage | None = None
        failure: Failure | None = None
        reason: FinishReason = "stop"
        note_requests_sent(self._requests_sent)  # this task's own context: its stream alone
        stop_sequence: str | None = None
        try:
            async with contextlib.aclosing(self.provider.stream(self.request)) as events:
                async for event in events:
                    if isinstance(event, CONTENT_EVENTS):
                        if self.first_token_at is None:
                            self.first_token_at = time.perf_counter()
                            # Nothing goes out before other processes can find the answer: a
                            # shared log that cannot be registered stops the generation here
                            # (its registration went out at the start, so this rarely waits).
                            await self.log.opened()
                        parts.add(event)
                        self._emit(event)
                    elif isinstance(event, Usage):
                        reported = event  # the total goes into the log once, at the end
                    elif isinstance(event, Finished):
                        reason, stop_sequence = event.reason, event.stop_sequence
        except asyncio.CancelledError:
            reason, stop_sequence = "cancelled", None
            if self._stopped_by is not None:
                failure, reason = self._stopped_by, "error"
        except ProviderError as exc:
            failure = Failure(exc.message, exc.status, exc.kind, getattr(exc, "param", None))
            reason, stop_sequence = "error", None
        except Exception:
            log.exception("generation %s failed inside llmrelay", self.id)
            failure = Failure("llmrelay failed while generating this answer.", 500, "internal")
            reason, stop_sequence = "error", None
        self._ending = True
        usage = spent_tokens(self.provider, self.request, reported, parts.produced(), failure is not None)
        if usage is not None:
            self._emit(usage)
        if failure is not None:
            self._emit(failure)
        now = time.perf_counter()
        self.result = GenerationResult(
            text=parts.text,
            finish_reason=reason,
            usage=usage,
            failure=failure,
            ttft_seconds=None if self.first_token_at is None else self.first_token_at - self.started_at,
            duration_seconds=now - self.started_at,
            tool_calls=parts.calls(),
            reasoning=parts.reasoning,
            reasoning_summary=parts.reasoning_summary,
            reasoning_blocks=parts.reasoning_blocks(),
            refusal=parts.refusal,
            logprobs=parts.logprobs,
            stop_sequence=stop_sequence,
        )
        self._log_result(self.result)
        if self.on_end is not None:
            try:
                await self.on_end(self, self.result)
            except Exception:
                log.exception("generation %s: recording its end failed", self.id)
        # `end` goes out only after on_end ran, so a client that saw it reads the stored answer.
        self._emit(Finished(reason, stop_sequence))
        self.log.close()

    def _log_result(self, result: GenerationResult) -> None:
        usage = result.usage or Usage(None, None)
        ttft = "-" if result.ttft_seconds is None else f"{result.ttft_seconds * 1000:.1f}"
        log.info(
            "generation %s finished: reason=%s provider=%s model=%s input_tokens=%s "
            "output_tokens=%s ttft_ms=%s duration_ms=%.1f%s",
            self.id,
            result.finish_reason,
            self.provider.info.name,
            self.identity.model,
            usage.input_tokens,
            usage.output_tokens,
            ttft,
            result.duration_seconds * 1000,
            f" error={result.failure.kind}" if result.failure else "",
        )


class GenerationHandle(Protocol):
    """What routes need of a generation, whichever process runs it: a `Generation` here, or
    one another process owns (streams_redis.RemoteGeneration)."""

    @property
    def id(self) -> str: ...

    @property
    def meta(self) -> dict[str, str]: ...

    @property
    def identity(self) -> Identity: ...

    @property
    def log(self) -> EventLog: ...

    @property
    def finished(self) -> bool: ...

    def listen(self, after: int = 0) -> AsyncIterator[list[tuple[int, LogEvent]]]: ...

    def cancel(self) -> bool: ...

    async def wait_finished(self) -> GenerationResult: ...


class Sharing(Protocol):
    """Generations shared with other processes (streams_redis.RedisSharing)."""

    def new_log(
        self, generation_id: str, meta: dict[str, str], identity: Identity, lost: Callable[[Failure], object]
    ) -> EventLog:
        """The log a generation this process starts writes to, visible to every process.
        `lost(failure)` is called (once) if it can no longer be shared: the generation stops."""
        ...

    def remote_listeners(self, generation_id: str) -> Callable[[], Awaitable[int]]:
        """How to count the generation's listeners in other processes."""
        ...

    async def find(self, generation_id: str, epoch: str | None) -> GenerationHandle | None:
        """A generation another process owns (None: unknown, or a log of another epoch)."""
        ...


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StreamRegistry:
    """Running and recently finished generations of this process, by id."""

    def __init__(
        self,
        *,
        retention_seconds: float,
        observers: Sequence[Observer] = (),
        sharing: Sharing | None = None,
    ) -> None:
        self.retention_seconds = retention_seconds
        self.observers = list(observers)
        self.sharing = sharing
        self._generations: dict[str, Generation] = {}

    def start(
        self,
        provider: Provider,
        request: GenerationRequest,
        *,
        identity: Identity,
        grace_seconds: float,
        on_end: OnEnd | None = None,
        generation_id: str | None = None,
        meta: dict[str, str] | None = None,
    ) -> Generation:
        generation_id = generation_id or new_id("gen")
        meta = meta or {}
        generation = Generation(
            id=generation_id,
            provider=provider,
            request=request,
            grace_seconds=grace_seconds,
            identity=identity,
            on_end=self._forget_later(on_end),
            meta=meta,
        )
        if self.sharing is not None:
            generation.log = self.sharing.new_log(generation_id, meta, identity, generation.stop)
            generation.remote_listeners = self.sharing.remote_listeners(generation_id)
        self._generations[generation.id] = generation
        generation.start()
        return generation

    def get(self, generation_id: str) -> Generation | None:
        """A generation this process runs (or ran, within the retention time)."""
        return self._generations.get(generation_id)

    async def find(self, generation_id: str, epoch: str | None = None) -> GenerationHandle | None:
        """A generation by id, in this process or (with sharing) any other. With `epoch` (from
        a client's event id), only that instance of its log: a client never mixes two logs."""
        local = self._generations.get(generation_id)
        if local is not None:
            return local if epoch is None or epoch == local.log.epoch else None
        if self.sharing is None:
            return None
        return await self.sharing.find(generation_id, epoch)

    def running(self) -> int:
        return sum(1 for g in self._generations.values() if not g.finished)

    def _forget_later(self, on_end: OnEnd | None) -> OnEnd:
        async def ended(generation: Generation, result: GenerationResult) -> None:
            for observe in self.observers:
                try:
                    observe(generation, result)
                except Exception:
                    log.exception("generation %s: an observer failed", generation.id)
            if on_end is not None:
                await on_end(generation, result)
            loop = asyncio.get_running_loop()
            loop.call_later(self.retention_seconds, self._generations.pop, generation.id, None)

        return ended

    async def aclose(self) -> None:
        """Stop every running generation and wait until each has recorded its end."""
        running = [g for g in self._generations.values() if not g.finished]
        for generation in running:
            generation.cancel()
        for generation in running:
            if generation._task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await generation._task

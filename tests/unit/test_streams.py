"""llmrelay.streams in-process: the generation's log, its listeners, the grace timer, the registry.

No server: a generation, its providers (ScriptedProvider, or `Gated` below, which holds its
answer until the test opens a gate) and its listeners all run in the test's event loop, so
"while it runs" is a state the test controls instead of a window it races.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

import pytest

from llmrelay.providers.base import (
    ChatMessage,
    Finished,
    GenerationRequest,
    InvalidParameter,
    ProviderEvent,
    ProviderInfo,
    TextDelta,
    UpstreamRateLimited,
    Usage,
    request_sent,
)
from llmrelay.providers.scripted import Script, ScriptedProvider
from llmrelay.streams import (
    Failure,
    Generation,
    GenerationResult,
    Identity,
    LogEvent,
    MemoryEventLog,
    StreamRegistry,
)
from tests.support.wait import eventually

REQUEST = GenerationRequest(messages=[ChatMessage("user", "hi")])
IDENTITY = Identity(route="/test", model="test-model")


class Gated:
    """Sends `before`, then waits until `gate` is set, then sends `after`, usage and the finish
    (or raises `error` instead). Records whether its stream was closed before the end."""

    def __init__(
        self,
        before: Sequence[str] = ("a", "b"),
        after: Sequence[str] = ("c",),
        error: BaseException | None = None,
    ) -> None:
        self.info = ProviderInfo(name="gated", model="gated-model")
        self.gate = asyncio.Event()
        self.before, self.after, self.error = before, after, error
        self.closed_early = False

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        finished = False
        try:
            for text in self.before:
                yield TextDelta(text)
            await self.gate.wait()
            if self.error is not None:
                raise self.error
            for text in self.after:
                yield TextDelta(text)
            yield Usage(input_tokens=1, output_tokens=len(self.before) + len(self.after))
            yield Finished("stop")
            finished = True
        finally:
            self.closed_early = not finished and self.error is None

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def registry() -> AsyncIterator[StreamRegistry]:
    streams = StreamRegistry(retention_seconds=60)
    yield streams
    await streams.aclose()  # nothing a test started outlives it


async def read_all(generation: Generation, after: int = 0) -> list[tuple[int, LogEvent]]:
    """Everything one listener gets, batches flattened."""
    return [item async for batch in generation.listen(after) for item in batch]


def numbered(events: Sequence[LogEvent], after: int = 0) -> list[tuple[int, LogEvent]]:
    return [(after + i + 1, event) for i, event in enumerate(events)]


async def until_produced(generation: Generation, count: int) -> None:
    await eventually(lambda: len(generation.log) >= count, within=2, what=f"{count} events in the log")


# -- the log and replay ------------------------------------------------------------------------


async def test_the_log_is_every_event_in_order_ending_with_one_finished(registry: StreamRegistry) -> None:
    generation = registry.start(
        ScriptedProvider(Script(["a", "b", "c"])), REQUEST, identity=IDENTITY, grace_seconds=0
    )
    result = await generation.wait_finished()
    assert generation.log.read(0) == [TextDelta("a"), TextDelta("b"), TextDelta("c"), Usage(1, 3), Finished()]
    assert (result.text, result.finish_reason, result.usage, result.failure) == (
        "abc",
        "stop",
        Usage(1, 3),
        None,
    )
    assert generation.finished and registry.running() == 0


async def test_listening_after_n_replays_from_event_n_plus_one(registry: StreamRegistry) -> None:
    generation = registry.start(
        ScriptedProvider(Script(["a", "b", "c"])), REQUEST, identity=IDENTITY, grace_seconds=0
    )
    await generation.wait_finished()
    everything = generation.log.read(0)
    assert await read_all(generation) == numbered(everything)
    for n in range(len(everything) + 1):
        assert await read_all(generation, after=n) == numbered(everything[n:], after=n)


async def test_listening_after_n_while_it_runs_replays_then_follows_live(registry: StreamRegistry) -> None:
    provider = Gated(before=("a", "b"), after=("c",))
    generation = registry.start(provider, REQUEST, identity=IDENTITY, grace_seconds=0)
    await until_produced(generation, 2)
    listener = asyncio.create_task(read_all(generation, after=1))
    await eventually(lambda: generation.listeners == 1, what="the listener to attach")
    provider.gate.set()
    assert await listener == [
        (2, TextDelta("b")),
        (3, TextDelta("c")),
        (4, Usage(1, 3)),
        (5, Finished("stop")),
    ]


async def test_several_listeners_each_get_every_event_once_in_order(registry: StreamRegistry) -> None:
    provider = ScriptedProvider(Script([f" w{i}" for i in range(30)], delay_seconds=0.01))
    generation = registry.start(provider, REQUEST, identity=IDENTITY, grace_seconds=0)
    early = [asyncio.create_task(read_all(generation)) for _ in range(3)]
    await until_produced(generation, 10)
    late = asyncio.create_task(read_all(generation))  # joins midway: replay, then live
    got = await asyncio.gather(*early, late)
    expected = numbered(generation.log.read(0))
    assert len(expected) == 30 + 2
    assert all(listener == expected for listener in got)
    assert generation.listeners == 0 and len(provider.requests) == 1


# -- listeners leaving: the grace timer --------------------------------------------------------


async def leave_after_first_batch(generation: Generation) -> list[tuple[int, LogEvent]]:
    async with contextlib.aclosing(generation.listen()) as batches:
        return await anext(batches)


async def test_the_last_listener_leaving_cancels_it_after_the_grace_period(registry: StreamRegistry) -> None:
    provider = Gated()
    generation = registry.start(provider, REQUEST, identity=IDENTITY, grace_seconds=0.2)
    await until_produced(generation, 2)
    assert await leave_after_first_batch(generation) == [(1, TextDelta("a")), (2, TextDelta("b"))]
    loop = asyncio.get_running_loop()
    left_at = loop.time()
    assert generation.listeners == 0 and not generation.finished  # inside the grace period

    result = await asyncio.wait_for(generation.wait_finished(), timeout=5)
    assert loop.time() - left_at >= 0.15  # the timer, not the leaving, stopped it
    assert (result.finish_reason, result.text, result.failure) == ("cancelled", "ab", None)
    assert generation.log.read(0)[-2:] == [Usage(1, 1, estimated=True), Finished("cancelled")]
    assert provider.closed_early


async def test_a_listener_back_within_the_grace_period_keeps_it_running(registry: StreamRegistry) -> None:
    provider = Gated()
    generation = registry.start(provider, REQUEST, identity=IDENTITY, grace_seconds=0.3)
    await until_produced(generation, 2)
    await leave_after_first_batch(generation)
    back = asyncio.create_task(read_all(generation, after=2))  # reconnects at once, Last-Event-ID 2
    await asyncio.sleep(0.6)  # twice the grace period, with the listener attached
    assert not generation.finished and generation.listeners == 1
    provider.gate.set()
    assert await back == [(3, TextDelta("c")), (4, Usage(1, 3)), (5, Finished("stop"))]
    result = await generation.wait_finished()
    assert (result.finish_reason, result.text) == ("stop", "abc")
    assert not provider.closed_early


async def test_with_no_grace_the_last_listener_leaving_cancels_it_at_once(registry: StreamRegistry) -> None:
    provider = Gated()
    generation = registry.start(provider, REQUEST, identity=IDENTITY, grace_seconds=0)
    await until_produced(generation, 2)
    staying = asyncio.create_task(read_all(generation))
    await eventually(lambda: generation.listeners == 1, what="the first listener to attach")
    await leave_after_first_batch(generation)  # a second listener comes and goes
    await asyncio.sleep(0.05)
    assert not generation.finished, "one listener is still there"

    staying.cancel()  # the last one leaves
    with pytest.raises(asyncio.CancelledError):
        await staying
    result = await asyncio.wait_for(generation.wait_finished(), timeout=0.5)
    assert (result.finish_reason, result.text) == ("cancelled", "ab")
    assert provider.closed_early


# -- cancel, failures --------------------------------------------------------------------------


async def test_cancel_keeps_what_was_produced_and_ends_with_finished_cancelled(
    registry: StreamRegistry,
) -> None:
    provider = Gated()
    generation = registry.start(provider, REQUEST, identity=IDENTITY, grace_seconds=60)
    await until_produced(generation, 2)
    assert generation.cancel() is True
    result = await generation.wait_finished()
    # What was spent is still counted: the provider never reported it, so llmrelay estimates it.
    spent = Usage(input_tokens=1, output_tokens=1, estimated=True)
    assert (result.text, result.finish_reason, result.failure, result.usage) == (
        "ab",
        "cancelled",
        None,
        spent,
    )
    assert generation.log.read(0) == [TextDelta("a"), TextDelta("b"), spent, Finished("cancelled")]
    assert generation.cancel() is False  # already finished
    assert provider.closed_early  # the provider's stream was closed, so upstream work stops
    assert await read_all(generation) == numbered(generation.log.read(0))  # still replayable


async def test_a_provider_error_is_a_failure_event_then_finished_error(registry: StreamRegistry) -> None:
    error = UpstreamRateLimited("The upstream is rate limiting us.")
    generation = registry.start(
        ScriptedProvider(Script(["a", "b"], error=error, fail_after=1)),
        REQUEST,
        identity=IDENTITY,
        grace_seconds=0,
    )
    result = await generation.wait_finished()
    failure = Failure("The upstream is rate limiting us.", 429, "rate_limited")
    spent = Usage(1, 1, estimated=True)  # the upstream failed before reporting its usage
    assert generation.log.read(0) == [TextDelta("a"), spent, failure, Finished("error")]
    assert (result.text, result.finish_reason, result.failure, result.usage) == ("a", "error", failure, spent)
    assert await generation.wait_first_event() == TextDelta("a")  # it had started


async def test_the_stop_sequence_a_provider_matched_ends_the_log_and_the_result(
    registry: StreamRegistry,
) -> None:
    asked = GenerationRequest(messages=[ChatMessage("user", "hi")], stop=["c"])
    generation = registry.start(
        ScriptedProvider(Script(["a", "b", "c", "d"])), asked, identity=IDENTITY, grace_seconds=0
    )
    result = await generation.wait_finished()
    assert generation.log.read(0)[-1] == Finished("stop", stop_sequence="c")
    assert (result.text, result.finish_reason, result.stop_sequence) == ("ab", "stop", "c")


async def test_a_refused_parameter_is_named_by_the_failure(registry: StreamRegistry) -> None:
    error = InvalidParameter("response_format", "response_format: no JSON-object mode here.")
    generation = registry.start(
        ScriptedProvider(Script(["a"], error=error, fail_after=0)),
        REQUEST,
        identity=IDENTITY,
        grace_seconds=0,
    )
    result = await generation.wait_finished()
    assert result.failure == Failure(
        "response_format: no JSON-object mode here.", 400, "unsupported_parameter", "response_format"
    )
    assert result.stop_sequence is None


async def test_a_failure_before_the_first_delta_is_the_first_event(registry: StreamRegistry) -> None:
    error = UpstreamRateLimited("The upstream is rate limiting us.")
    generation = registry.start(
        ScriptedProvider(Script(["a"], error=error, fail_after=0)),
        REQUEST,
        identity=IDENTITY,
        grace_seconds=0,
    )
    first = await generation.wait_first_event()
    assert first == Failure("The upstream is rate limiting us.", 429, "rate_limited")
    result = await generation.wait_finished()
    assert (result.text, result.usage) == ("", None)  # refused before anything: nothing spent
    assert generation.log.read(0) == [first, Finished("error")]


async def test_an_unexpected_exception_is_an_internal_failure_that_shows_nothing_of_it(
    registry: StreamRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="llmrelay.streams")
    secret = "sk-live-0123456789 in /srv/llmrelay/app.py line 42"
    provider = Gated(before=("a",), error=RuntimeError(secret))
    provider.gate.set()
    generation = registry.start(provider, REQUEST, identity=IDENTITY, grace_seconds=0)
    result = await generation.wait_finished()
    delta, spent, failure, end = generation.log.read(0)
    assert (delta, spent, end) == (TextDelta("a"), Usage(1, 1, estimated=True), Finished("error"))
    assert isinstance(failure, Failure) and result.failure == failure
    assert (failure.kind, failure.status) == ("internal", 500)
    assert failure.message == "llmrelay failed while generating this answer."
    assert "sk-live" not in failure.message and "RuntimeError" not in failure.message
    # The operator gets the traceback in the log; the client only the sentence above.
    assert any(
        record.exc_info and "failed inside llmrelay" in record.getMessage() for record in caplog.records
    )


# -- what is told of the end -------------------------------------------------------------------


async def test_on_end_runs_before_end_goes_out_and_a_failing_observer_changes_nothing() -> None:
    seen: list[tuple[str, str, int]] = []

    def broken_observer(generation: Generation, result: GenerationResult) -> None:
        raise RuntimeError("an observer's bug")

    def observer(generation: Generation, result: GenerationResult) -> None:
        seen.append(("observer", result.finish_reason, len(generation.log)))

    async def on_end(generation: Generation, result: GenerationResult) -> None:
        await asyncio.sleep(0.01)  # e.g. a database write
        # `end` is not in the log yet: a client that sees it can read the stored answer.
        assert not isinstance(generation.log.read(0)[-1], Finished)
        seen.append(("on_end", result.finish_reason, len(generation.log)))

    streams = StreamRegistry(retention_seconds=60, observers=[broken_observer, observer])
    try:
        generation = streams.start(
            ScriptedProvider(Script(["a", "b"])), REQUEST, identity=IDENTITY, grace_seconds=0, on_end=on_end
        )
        await generation.wait_finished()
        assert seen == [("observer", "stop", 3), ("on_end", "stop", 3)]  # two deltas and usage
        assert generation.log.read(0)[-1] == Finished("stop") and len(generation.log) == 4
    finally:
        await streams.aclose()


async def test_a_failing_on_end_still_ends_the_stream(registry: StreamRegistry) -> None:
    async def on_end(generation: Generation, result: GenerationResult) -> None:
        raise RuntimeError("the database is gone")

    generation = registry.start(
        ScriptedProvider(Script(["a"])), REQUEST, identity=IDENTITY, grace_seconds=0, on_end=on_end
    )
    assert (await asyncio.wait_for(read_all(generation), timeout=2))[-1] == (3, Finished("stop"))


# -- the registry ------------------------------------------------------------------------------


async def test_aclose_stops_running_generations_and_waits_for_their_on_end() -> None:
    recorded: dict[str, str] = {}

    async def on_end(generation: Generation, result: GenerationResult) -> None:
        await asyncio.sleep(0.05)  # slower than cancelling: aclose must wait for it
        recorded[generation.id] = result.finish_reason

    streams = StreamRegistry(retention_seconds=60)
    done = streams.start(
        ScriptedProvider(Script(["x"])), REQUEST, identity=IDENTITY, grace_seconds=0, on_end=on_end
    )
    await done.wait_finished()
    running = [
        streams.start(Gated(), REQUEST, identity=IDENTITY, grace_seconds=60, on_end=on_end) for _ in range(2)
    ]
    for generation in running:
        await until_produced(generation, 2)
    assert streams.running() == 2

    await streams.aclose()
    assert recorded == {done.id: "stop", running[0].id: "cancelled", running[1].id: "cancelled"}
    assert streams.running() == 0
    assert all(g.finished and g.log.read(0)[-1] == Finished("cancelled") for g in running)


async def test_finished_generations_are_forgotten_after_the_retention_time() -> None:
    brief = StreamRegistry(retention_seconds=0.1)
    kept = StreamRegistry(retention_seconds=60)
    try:
        gone = brief.start(
            ScriptedProvider(Script(["a"])),
            REQUEST,
            identity=IDENTITY,
            grace_seconds=0,
            generation_id="gen_brief",
        )
        stays = kept.start(ScriptedProvider(Script(["a"])), REQUEST, identity=IDENTITY, grace_seconds=0)
        await gone.wait_finished()
        await stays.wait_finished()
        assert brief.get("gen_brief") is gone  # finished, still replayable for a while
        await eventually(lambda: brief.get("gen_brief") is None, within=2, what="the registry to forget it")
        assert kept.get(stays.id) is stays
        assert brief.get("gen_nope") is None
    finally:
        await brief.aclose()
        await kept.aclose()


# -- the in-memory log -------------------------------------------------------------------------


async def test_one_cancelled_waiter_does_not_wake_or_cancel_the_others() -> None:
    log = MemoryEventLog()
    waiters = [asyncio.create_task(log.wait_beyond(0)) for _ in range(3)]
    await asyncio.sleep(0)
    waiters[0].cancel()
    await asyncio.sleep(0.01)
    assert [w.done() for w in waiters] == [True, False, False]
    log.append(TextDelta("a"))
    await asyncio.wait_for(asyncio.gather(*waiters[1:]), timeout=1)
    assert waiters[0].cancelled()
    await log.wait_beyond(0)  # longer already: returns at once
    closed = asyncio.create_task(log.wait_beyond(1))
    await asyncio.sleep(0.01)
    log.close()  # closing wakes whoever waits for more
    await asyncio.wait_for(closed, timeout=1)
    assert log.closed and len(log) == 1 and log.read(0) == [TextDelta("a")]


# -- when the upstream wait starts (overhead.py) -----------------------------------------------


class SendsAfterBuilding:
    """Spends `build_seconds` "building" its request, says it was sent, then answers: like an
    SDK whose request hook fires (providers.base.request_sent)."""

    info = ProviderInfo(name="sends", model="sends-model")

    def __init__(self, build_seconds: float) -> None:
        self.build_seconds = build_seconds

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        await asyncio.sleep(self.build_seconds)
        request_sent()
        yield TextDelta("a")
        yield Finished()

    def count_tokens(self, text: str) -> int:
        return len(text)


async def test_the_upstream_wait_starts_when_the_request_is_sent(registry: StreamRegistry) -> None:
    generation = registry.start(SendsAfterBuilding(0.05), REQUEST, identity=IDENTITY, grace_seconds=0)
    await generation.wait_finished()
    assert generation.upstream_since - generation.started_at >= 0.05
    assert generation.upstream_since <= generation.first_event_at  # type: ignore[operator]


async def test_without_a_request_the_upstream_wait_starts_with_the_generation(
    registry: StreamRegistry,
) -> None:
    generation = registry.start(ScriptedProvider(Script(["a"])), REQUEST, identity=IDENTITY, grace_seconds=0)
    await generation.wait_finished()
    assert generation.upstream_since == generation.started_at


async def test_a_request_sent_outside_a_generation_is_nobodys(registry: StreamRegistry) -> None:
    request_sent()  # the test's own task has no generation: nothing to note, nothing raised
    generation = registry.start(SendsAfterBuilding(0), REQUEST, identity=IDENTITY, grace_seconds=0)
    await generation.wait_finished()
    assert generation.upstream_since >= generation.started_at


async def test_a_cancel_while_its_end_is_being_recorded_is_refused_and_the_log_still_ends(
    registry: StreamRegistry,
) -> None:
    """Once its provider is done, a generation only records its end (the stored answer) and
    closes its log: a cancel then (a Stop, or Redis going away) would cancel the recording, and
    its listeners would wait for an end that never comes."""
    recording = asyncio.Event()
    recorded = asyncio.Event()

    async def record(generation: Generation, result: GenerationResult) -> None:
        recording.set()
        await recorded.wait()

    generation = registry.start(
        ScriptedProvider.replying("done"), REQUEST, identity=IDENTITY, grace_seconds=60, on_end=record
    )
    await asyncio.wait_for(recording.wait(), timeout=2)
    assert generation.cancel() is False
    assert generation.stop(Failure("too late", 503, "store_unavailable")) is False
    recorded.set()
    result = await asyncio.wait_for(generation.wait_finished(), timeout=2)
    assert (result.finish_reason, result.failure) == ("stop", None)
    assert generation.log.read(0)[-1] == Finished("stop")


async def test_a_log_that_cannot_be_shared_stops_its_generation_before_its_first_event() -> None:
    """A shared log whose registration fails (as RedisEventLog's writer task does: it calls
    `lost`, which stops the generation, then lets `opened()` return) lets no event out: the
    first event is the failure, so the client gets a status, not a stream."""

    class Unregistered(MemoryEventLog):
        def __init__(self) -> None:
            super().__init__()
            self.stop: object = None
            self.registered = asyncio.Event()
            self.writer = asyncio.get_running_loop().create_task(self._register())

        async def _register(self) -> None:
            await asyncio.sleep(0.05)  # the registration's round trip, which fails
            assert callable(self.stop)
            self.stop(Failure("no shared store", 503, "store_unavailable"))
            self.registered.set()

        async def opened(self) -> bool:
            await self.registered.wait()
            return False

    class Sharing:
        def new_log(self, generation_id: str, meta: object, identity: object, lost: object) -> Unregistered:
            log = Unregistered()
            log.stop = lost
            return log

        def remote_listeners(self, generation_id: str) -> object:
            return None

        async def find(self, generation_id: str, epoch: object) -> None:
            return None

    registry = StreamRegistry(retention_seconds=60, sharing=Sharing())  # type: ignore[arg-type]
    generation = registry.start(
        ScriptedProvider.replying("a b c"), REQUEST, identity=IDENTITY, grace_seconds=0
    )
    result = await asyncio.wait_for(generation.wait_finished(), timeout=2)
    assert result.failure == Failure("no shared store", 503, "store_unavailable")
    assert isinstance(generation.log.read(0)[0], Failure | Usage)
    assert not [e for e in generation.log.read(0) if isinstance(e, TextDelta)]
    await registry.aclose()

"""RedisEventLog and friends against a real Redis: two registries in one process, each with its
own Redis client, stand for two processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from redis.asyncio import Redis

from llmrelay.providers.base import (
    Finished,
    GenerationRequest,
    ProviderEvent,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RefusalDelta,
    TextDelta,
    TokenLogprob,
    Usage,
)
from llmrelay.providers.scripted import Script, ScriptedProvider
from llmrelay.streams import Failure, Identity, LogEvent, StreamRegistry
from llmrelay.streams_redis import RedisEventLog, RedisSharing
from llmrelay.streams_redis.codec import decode_events, encode_events
from tests.support.redis import RedisSpace

REQUEST = GenerationRequest(messages=[])
IDENTITY = Identity(route="test", model="scripted")


class Process:
    """One llmrelay process's share of the machinery: its registry and its RedisSharing."""

    def __init__(self, space: RedisSpace, *, retention: float = 30.0) -> None:
        self.sharing = RedisSharing(
            Redis.from_url(space.url),
            prefix=space.prefix,
            retention_seconds=retention,
            heartbeat_seconds=0.2,
            heartbeat_ttl_seconds=0.6,
        )
        self.streams = StreamRegistry(retention_seconds=retention, sharing=self.sharing)

    async def __aenter__(self) -> Process:
        await self.sharing.start(self.streams, None)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.streams.aclose()
        await self.sharing.aclose()


@pytest.fixture
async def two(redis_space: RedisSpace) -> AsyncIterator[tuple[Process, Process]]:
    async with Process(redis_space) as a, Process(redis_space) as b:
        yield a, b


async def collect(handle_listen: AsyncIterator[list[tuple[int, LogEvent]]]) -> list[tuple[int, LogEvent]]:
    out: list[tuple[int, LogEvent]] = []
    async for batch in handle_listen:
        out.extend(batch)
    return out


@pytest.mark.parametrize(
    "event",
    [
        TextDelta("a\r\nb ü"),
        TextDelta(""),
        TextDelta(
            " ü",
            (
                TokenLogprob(
                    " \xc3", -0.25, (32, 195), (TokenLogprob(" \xc3", -0.25), TokenLogprob(" a", -1.5))
                ),
                TokenLogprob("\xbc", -0.01, None),
            ),
        ),
        ReasoningDelta("thinking\n", summary=True),
        ReasoningDelta(""),
        ReasoningSignature("EqQBCkYIBxgCKkB+sig/=="),
        ReasoningSignature(""),
        RedactedReasoning("EmwKAhgBEgy3va3pzix/LafPsn4a"),
        RefusalDelta("I can't."),
        Usage(3, None),
        # Prompt-cache counts (an Anthropic upstream's), one of them unreported.
        Usage(1200, 7, cache_write_tokens=1000, cache_read_tokens=180),
        Usage(40, 2, True, cache_write_tokens=None, cache_read_tokens=0),
        Failure("boom", 429, "rate_limited"),
        Failure("response_format: no JSON mode", 400, "unsupported_parameter", "response_format"),
        Finished("length"),
        Finished("stop", stop_sequence="\n\nHuman:"),
    ],
)
def test_events_survive_the_codec(event: LogEvent) -> None:
    assert decode_events(encode_events([event, event])) == [event, event]


async def test_a_log_written_on_one_process_replays_on_another_from_any_position(
    two: tuple[Process, Process],
) -> None:
    a, b = two
    provider = ScriptedProvider.replying("one two three four five six")
    generation = a.streams.start(
        provider, REQUEST, identity=IDENTITY, grace_seconds=5, meta={"conversation_id": "conv_1"}
    )
    result = await generation.wait_finished()
    assert result.text == "one two three four five six"
    assert isinstance(generation.log, RedisEventLog)
    await generation.log.drained()

    whole = await b.streams.find(generation.id)
    assert whole is not None and whole is not generation
    assert whole.meta == {"conversation_id": "conv_1"}
    assert whole.log.epoch == generation.log.epoch
    replayed = await collect(whole.listen(0))
    assert replayed == list(enumerate(generation.log.read(0), start=1))
    # From the middle: exactly the events after that position.
    later = await b.streams.find(generation.id, generation.log.epoch)
    assert later is not None
    assert await collect(later.listen(4)) == replayed[4:]


async def test_another_epoch_is_another_log(two: tuple[Process, Process]) -> None:
    a, b = two
    generation = a.streams.start(
        ScriptedProvider.replying("hi there"), REQUEST, identity=IDENTITY, grace_seconds=5
    )
    await generation.wait_finished()
    assert await b.streams.find(generation.id, "0badc0de") is None
    assert await a.streams.find(generation.id, "0badc0de") is None
    assert await b.streams.find("gen_nobody_has_this") is None


async def test_appends_are_batched_not_one_round_trip_per_token(two: tuple[Process, Process]) -> None:
    a, _ = two
    words = " ".join(f"w{i}" for i in range(500))
    generation = a.streams.start(
        ScriptedProvider.replying(words), REQUEST, identity=IDENTITY, grace_seconds=5
    )
    await generation.wait_finished()
    assert isinstance(generation.log, RedisEventLog)
    await generation.log.drained()
    # 500 deltas + usage + end: a few round trips, not 502.
    assert len(generation.log) == 502
    assert generation.log.writes <= 20, generation.log.writes


async def test_a_listener_elsewhere_follows_live_and_sees_each_event_once(
    two: tuple[Process, Process],
) -> None:
    a, b = two
    provider = ScriptedProvider.replying(" ".join(f"t{i}" for i in range(30)), delay_seconds=0.01)
    generation = a.streams.start(provider, REQUEST, identity=IDENTITY, grace_seconds=5)
    assert isinstance(generation.log, RedisEventLog)
    await generation.log.registered.wait()
    await generation.wait_first_event()  # some events are written, more are coming
    remote = await b.streams.find(generation.id)
    assert remote is not None and not remote.finished
    second = await b.streams.find(generation.id)
    assert second is remote  # one follower per generation and process, however many listen
    seen, again = await asyncio.gather(collect(remote.listen(0)), collect(second.listen(3)))
    assert [seq for seq, _ in seen] == list(range(1, 33))
    assert again == seen[3:]
    assert (
        "".join(e.text for _, e in seen if isinstance(e, TextDelta))
        == (await generation.wait_finished()).text
    )
    assert isinstance(seen[-1][1], Finished) and seen[-1][1].reason == "stop"


async def test_cancel_on_another_process_stops_the_owner_within_a_second(
    two: tuple[Process, Process],
) -> None:
    a, b = two
    provider = ScriptedProvider.replying(" ".join(["slow"] * 1000), delay_seconds=0.02)
    generation = a.streams.start(provider, REQUEST, identity=IDENTITY, grace_seconds=30)
    await generation.wait_first_event()
    assert isinstance(generation.log, RedisEventLog)
    await generation.log.registered.wait()
    remote = await b.streams.find(generation.id)
    assert remote is not None
    started = asyncio.get_running_loop().time()
    assert remote.cancel() is True
    result = await asyncio.wait_for(remote.wait_finished(), 1)
    assert asyncio.get_running_loop().time() - started < 1
    assert result.finish_reason == "cancelled"
    assert provider.cancelled == 1
    assert (await generation.wait_finished()).finish_reason == "cancelled"
    assert remote.cancel() is False


async def test_grace_counts_listeners_on_every_process(two: tuple[Process, Process]) -> None:
    a, b = two
    provider = ScriptedProvider.replying(" ".join(["word"] * 400), delay_seconds=0.01)
    generation = a.streams.start(provider, REQUEST, identity=IDENTITY, grace_seconds=0.3)
    here = generation.listen(0)
    await here.__anext__()
    assert isinstance(generation.log, RedisEventLog)
    await generation.log.registered.wait()
    remote = await b.streams.find(generation.id)
    assert remote is not None
    there = remote.listen(0)
    await there.__anext__()
    await asyncio.sleep(0.2)  # b's attach reached a
    await here.aclose()  # nobody listens on a: the grace period runs, but b listens
    await asyncio.sleep(0.8)
    assert not generation.finished, "stopped although a listener on another process was there"
    await there.aclose()  # now nobody anywhere
    result = await asyncio.wait_for(generation.wait_finished(), 3)
    assert result.finish_reason == "cancelled"
    assert provider.cancelled == 1


class GatedProvider(ScriptedProvider):
    """Ten deltas, then it waits for `gate`, then ten more: a test decides what happens between."""

    def __init__(self) -> None:
        super().__init__(Script(["x"] * 20))
        self.gate = asyncio.Event()

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        for i in range(20):
            if i == 10:
                await self.gate.wait()
            yield TextDelta(f" x{i}")
        yield Finished("stop")


async def test_an_owner_that_dies_mid_answer_is_ended_for_listeners_elsewhere(
    redis_space: RedisSpace,
) -> None:
    async with Process(redis_space) as b, Process(redis_space) as dying:
        provider = GatedProvider()  # ten deltas, then it hangs: the owner writes no more
        generation = dying.streams.start(provider, REQUEST, identity=IDENTITY, grace_seconds=30)
        assert isinstance(generation.log, RedisEventLog)
        await generation.log.registered.wait()
        remote = await b.streams.find(generation.id)
        assert remote is not None
        listening = asyncio.ensure_future(collect(remote.listen(0)))
        await asyncio.wait_for(remote.log.wait_beyond(9), 10)
        # Dead, as Redis sees a process killed with -9: no heartbeat any more.
        dying.sharing._stopping.set()
        await dying.sharing.redis.delete(dying.sharing.keys.process(dying.sharing.process_id))
        seen = await asyncio.wait_for(listening, 5)
        assert [type(e).__name__ for _, e in seen] == ["TextDelta"] * 10 + ["Failure", "Finished"]
        assert isinstance(seen[-2][1], Failure) and seen[-2][1].kind == "interrupted"
        assert isinstance(seen[-1][1], Finished) and seen[-1][1].reason == "error"
        assert [seq for seq, _ in seen] == list(range(1, 13))
        assert not await b.sharing.redis.hexists(b.sharing.keys.running, generation.id)


async def test_a_log_that_lost_entries_is_never_mixed_with_what_follows(two: tuple[Process, Process]) -> None:
    a, b = two
    provider = GatedProvider()
    generation = a.streams.start(provider, REQUEST, identity=IDENTITY, grace_seconds=30)
    assert isinstance(generation.log, RedisEventLog)
    await generation.log.registered.wait()
    live = await b.streams.find(generation.id)
    assert live is not None
    following = asyncio.ensure_future(collect(live.listen(0)))
    await asyncio.wait_for(live.log.wait_beyond(9), 10)  # the follower has read all the first ten
    assert isinstance(generation.log, RedisEventLog)
    # The Stream loses what it held (as after a flush); the owner goes on writing.
    await a.sharing.redis.delete(a.sharing.keys.log(generation.id, generation.log.epoch))
    provider.gate.set()
    # A follower that had read everything before the loss goes on, without a gap.
    whole = await asyncio.wait_for(following, 10)
    assert [seq for seq, _ in whole] == list(range(1, 23))  # 20 deltas, the usage, the end
    assert "".join(e.text for _, e in whole if isinstance(e, TextDelta)) == "".join(
        f" x{i}" for i in range(20)
    )
    # One that comes later cannot have the start: `error` + `end`, never the rest as if whole.
    b.sharing._remote.clear()
    late = await b.streams.find(generation.id)
    assert late is not None
    seen = await asyncio.wait_for(collect(late.listen(0)), 10)
    assert [(seq, type(e).__name__) for seq, e in seen] == [(1, "Failure"), (2, "Finished")], seen
    assert isinstance(seen[0][1], Failure) and seen[0][1].kind == "log_lost"
    # And a client that was further on gets them after its own position.
    resumed = await asyncio.wait_for(collect(late.listen(15)), 10)
    assert [(seq, type(e).__name__) for seq, e in resumed] == [(16, "Failure"), (17, "Finished")]

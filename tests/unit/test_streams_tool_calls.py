"""Tool calls in a generation's log: replayed and resumed exactly like text. A listener cut off
in the middle of a call's arguments attaches again after the last event it saw and gets the
rest: the joined arguments are whole, nothing lost or doubled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from llmrelay.providers.base import (
    Finished,
    GenerationRequest,
    ProviderEvent,
    ProviderInfo,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from llmrelay.streams import Identity, StreamRegistry
from llmrelay.toolcalls import ToolCallAssembler

PIECES = [
    ToolCallDelta(0, id="call_1", name="get_weather"),
    ToolCallDelta(1, id="call_2", name="get_time"),
    ToolCallDelta(0, arguments='{"ci'),
    ToolCallDelta(1, arguments=""),
    ToolCallDelta(0, arguments='ty": "Pa'),
    ToolCallDelta(1, arguments='{"tz": "UTC"}'),
    ToolCallDelta(0, arguments='ris"}'),
]


class PacedProvider:
    """Sends PIECES one at a time, each only when the test lets it (no timing races)."""

    def __init__(self) -> None:
        self.info = ProviderInfo(name="paced", model="paced")
        self.go = asyncio.Semaphore(0)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[ProviderEvent, None]:
        for piece in PIECES:
            await self.go.acquire()
            yield piece
        yield Usage(3, 7)
        yield Finished("tool_calls")

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def aclose(self) -> None:
        return None


async def test_a_listener_cut_mid_arguments_resumes_and_gets_them_whole() -> None:
    provider = PacedProvider()
    streams = StreamRegistry(retention_seconds=60)
    generation = streams.start(
        provider,
        GenerationRequest(messages=[]),
        identity=Identity(route="test", model="paced"),
        grace_seconds=30,
    )
    seen: list[tuple[int, object]] = []
    first = generation.listen(0)
    for _ in range(4):  # the two openings and two fragments, then the connection "drops"
        provider.go.release()
        seen += await anext(first)
    await first.aclose()
    assert generation.listeners == 0 and not generation.finished  # within its grace period
    for _ in range(len(PIECES) - 4):
        provider.go.release()
    last_seq = seen[-1][0]
    resumed = [pair async for batch in generation.listen(last_seq) for pair in batch]
    events = [event for _, event in seen + resumed]
    seqs = [seq for seq, _ in seen + resumed]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    calls = ToolCallAssembler()
    for event in events:
        if isinstance(event, ToolCallDelta):
            calls.add(event)
    assert calls.calls() == (
        ToolCall("call_1", "get_weather", '{"city": "Paris"}'),
        ToolCall("call_2", "get_time", '{"tz": "UTC"}'),
    )
    assert events[-1] == Finished("tool_calls")
    result = await generation.wait_finished()
    assert result.tool_calls == calls.calls()
    assert result.usage == Usage(3, 7)
    await streams.aclose()

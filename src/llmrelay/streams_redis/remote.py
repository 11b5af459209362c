"""A generation another process owns, seen from this one: follow its log, count, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Literal

from llmrelay.answer import AnswerParts
from llmrelay.providers.base import Finished, FinishReason, Usage
from llmrelay.streams import Failure, GenerationResult, Identity, LogEvent
from llmrelay.streams_redis.log import FollowedLog

Notice = Literal["cancel", "attach", "detach"]
Notify = Callable[[str, Notice, str], None]  # (owner process, what, generation id)


class RemoteGeneration:
    """A `GenerationHandle` for a generation another process runs.

    Listeners here are counted in Redis (the owner asks before its grace period stops the
    answer) and each attach / detach is told to the owner; cancel is a message to the owner."""

    def __init__(
        self,
        generation_id: str,
        owner: str,
        meta: dict[str, str],
        identity: Identity,
        log: FollowedLog,
        notify: Notify,
    ) -> None:
        self.id = generation_id
        self.owner = owner  # the process running it
        self.meta = meta
        self.identity = identity
        self.log = log
        self._notify = notify
        self.listeners = 0

    @property
    def finished(self) -> bool:
        return self.log.closed

    def cancel(self) -> bool:
        if self.finished:
            return False
        self._notify(self.owner, "cancel", self.id)
        return True

    async def wait_first_event(self) -> LogEvent:
        await self.log.wait_beyond(0)
        return self.log.read(0)[0]

    async def wait_finished(self) -> GenerationResult:
        while not self.finished:
            await self.log.wait_beyond(len(self.log))
        return result_of(self.log.read(0))

    async def listen(self, after: int = 0) -> AsyncIterator[list[tuple[int, LogEvent]]]:
        self.listeners += 1
        self._notify(self.owner, "attach", self.id)
        try:
            position = after
            while True:
                events = self.log.read(position)
                if events:
                    yield [(position + i + 1, event) for i, event in enumerate(events)]
                    position += len(events)
                    continue
                if self.finished:
                    if self.log.lost and position == after and after > len(self.log) - 2:
                        # A client further on than what could be read: it still gets the end.
                        end = self.log.read(len(self.log) - 2)
                        yield [(after + 1, end[0]), (after + 2, end[1])]
                    return
                await self.log.wait_beyond(position)
        finally:
            self.listeners -= 1
            # Told through a queue, not awaited here: a generator's `finally` may run while
            # its task is being cancelled.
            self._notify(self.owner, "detach", self.id)


def result_of(events: list[LogEvent]) -> GenerationResult:
    """What a finished log says about its generation (timings are the owner's: not known here)."""
    parts = AnswerParts()
    usage: Usage | None = None
    failure: Failure | None = None
    reason: FinishReason = "stop"
    stop_sequence: str | None = None
    for event in events:
        if parts.add(event):
            continue
        if isinstance(event, Usage):
            usage = event
        elif isinstance(event, Failure):
            failure = event
        elif isinstance(event, Finished):
            reason, stop_sequence = event.reason, event.stop_sequence
    return GenerationResult(
        parts.text,
        reason,
        usage,
        failure,
        None,
        0.0,
        parts.calls(),
        stop_sequence=stop_sequence,
        reasoning=parts.reasoning,
        reasoning_summary=parts.reasoning_summary,
        reasoning_blocks=parts.reasoning_blocks(),
        refusal=parts.refusal,
        logprobs=parts.logprobs,
    )

"""The one answer pipeline under every route: start a generation, answer through a renderer.

A route parses its wire format into a `GenerationRequest`, then hands it here:
- `start(...)` starts the generation with its identity (route, model name, caller's key) on the
  stream machinery. Usage and metrics are observers of the `StreamRegistry`, so every answer is
  counted without the route doing anything; a route adds an `on_end` only for what is its own
  (the conversation's stored answer, a kept response).
- `answer(...)` waits while a failure can still be an HTTP status (up to the first event of a
  stream, or the end of a whole answer), watching for the client leaving; a failure before start
  goes out in the renderer's own error shape, after the generation recorded its end; otherwise
  the renderer's stream (or whole answer).
- `start_choices(...)` / `answer_choices(...)`: the same for `n` answers to one request (each
  its own generation, shown together by a `ChoicesRenderer`, each at its index).
- `attach(...)` follows a running (or recently finished) generation from a position: a resumed
  stream, or a second listener.

It also measures llmrelay's own time per request: `overhead.mark_upstream` is told how long the
generation waited for its provider (from its upstream request's sending, or its start for the
embedded model), which the overhead middleware subtracts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from llmrelay import overhead, quota
from llmrelay.api.disconnect import final_result, final_results, first_event, first_event_of_any
from llmrelay.auth import Caller
from llmrelay.limiter import Limiter, Permit
from llmrelay.providers.base import GenerationRequest, Provider
from llmrelay.streams import DETACHED, Failure, Generation, GenerationHandle, Identity, OnEnd, StreamRegistry
from llmrelay.wire import sse
from llmrelay.wire.renderer import ChoicesRenderer, Renderer


class Pipeline:
    def __init__(
        self, streams: StreamRegistry, *, grace_seconds: float, limiter: Limiter | None = None
    ) -> None:
        self.streams = streams
        # Limits per key (limiter.Limiter); None: none are enforced.
        self.limiter = limiter
        # How long a resumable stream goes on with nobody listening (LLMRELAY_DETACH_GRACE_SECONDS).
        self.grace_seconds = grace_seconds

    async def admit(
        self, caller: Caller, provider: Provider, request: GenerationRequest, *, copies: int = 1
    ) -> Permit | None:
        """The caller's limits, checked before anything is stored or started: LimitExceeded
        (a 429 naming the limit) or a permit for `start`. None: no limits apply. `copies`: the
        answers the request asks for (n choices; `start_choices`), all reserved at once."""
        return await quota.admit(self.limiter, caller, provider, request, copies=copies)

    def start(
        self,
        provider: Provider,
        request: GenerationRequest,
        identity: Identity,
        *,
        resumable: bool,
        detached: bool = False,
        on_end: OnEnd | None = None,
        generation_id: str | None = None,
        meta: Mapping[str, str] | None = None,
        permit: Permit | None = None,
        label: str = "",
    ) -> Generation:
        """Start generating. A resumable answer outlives its connection for the grace period
        (a client may reconnect); any other stops the moment nobody listens; a `detached` one
        (a background response) runs to its end, listened to or not. With a `permit`
        (from `admit`), the answer is settled against the caller's limits at its end, and a
        budget is charged as it streams (`label` names the caller when it is spent)."""
        if label and not identity.key_label:
            identity = replace(identity, key_label=label)
        generation = self.streams.start(
            provider,
            request,
            identity=identity,
            grace_seconds=DETACHED if detached else self.grace_seconds if resumable else 0,
            on_end=on_end if permit is None else quota.settler(permit, on_end),
            generation_id=generation_id,
            meta=dict(meta) if meta else None,
        )
        quota.meter(generation, permit, label)
        return generation

    def start_choices(
        self,
        provider: Provider,
        request: GenerationRequest,
        identity: Identity,
        *,
        n: int,
        generation_id: str,
        meta: Mapping[str, str] | None = None,
        permit: Permit | None = None,
        label: str = "",
    ) -> list[Generation]:
        """`n` independent answers to one request (`n` choices): each its own generation of the
        same prompt through the provider (`<id>-<index>`; one answer keeps `generation_id`), so
        every provider can give them, and each is counted (usage rows, metrics) as it ends. One
        permit for all (`admit(copies=n)`), settled with their sum when the last ends. With a
        seed, answer i is sampled with seed + i: n copies of one answer are not n answers.
        Nobody resumes them: each stops the moment its client leaves."""
        if n == 1:
            return [
                self.start(
                    provider,
                    request,
                    identity,
                    resumable=False,
                    generation_id=generation_id,
                    meta=meta,
                    permit=permit,
                    label=label,
                )
            ]
        if label and not identity.key_label:
            identity = replace(identity, key_label=label)
        endings: list[OnEnd | None] = list(quota.settlers(permit, None, n)) if permit else [None] * n
        generations = []
        for index in range(n):
            asked = request if request.seed is None else replace(request, seed=request.seed + index)
            generation = self.streams.start(
                provider,
                asked,
                identity=identity,
                grace_seconds=0,
                on_end=endings[index],
                generation_id=f"{generation_id}-{index}",
                meta={**(meta or {}), "choice": str(index)},
            )
            quota.meter(generation, permit, label)
            generations.append(generation)
        return generations

    async def answer_choices(
        self, http: Request, generations: Sequence[Generation], renderer: ChoicesRenderer, *, stream: bool
    ) -> Response:
        """`answer` for the answers `start_choices` started: one is `answer`'s; several are one
        response with each answer at its index, streamed interleaved or whole."""
        if len(generations) == 1:
            return await self.answer(http, generations[0], renderer, stream=stream)
        # The upstream wait starts at the first request sent (as `answer` counts it for one).
        started = min(generation.upstream_since for generation in generations)
        if not stream:
            results = await final_results(http, generations)
            ends = [g.finished_at for g in generations if g.finished_at is not None]
            overhead.mark_upstream(http, started, max(ends, default=None))
            failure = next((result.failure for result in results if result.failure is not None), None)
            if failure is not None:
                return renderer.failure(failure)
            return renderer.whole_choices(results)
        first = await first_event_of_any(http, generations)
        firsts = [g.first_event_at for g in generations if g.first_event_at is not None]
        overhead.mark_upstream(http, started, min(firsts, default=None))
        if isinstance(first, Failure):
            for generation in generations:
                generation.cancel()
            for generation in generations:
                await generation.wait_finished()
            return renderer.failure(first)
        body = sse.follow_choices(generations, renderer, first=renderer.opening())
        return sse.event_stream(body, ping=renderer.ping_event())

    async def answer(
        self, http: Request, generation: Generation, renderer: Renderer, *, stream: bool
    ) -> Response:
        if not stream:
            result = await final_result(http, generation)
            overhead.mark_upstream(http, generation.upstream_since, generation.finished_at)
            if result.failure is not None:
                return renderer.failure(result.failure)
            return renderer.whole(result)
        first = await first_event(http, generation)
        overhead.mark_upstream(http, generation.upstream_since, generation.first_event_at)
        if isinstance(first, Failure):
            # What failed is recorded (a stored answer, usage) before the client hears of it,
            # so a client reading the conversation next sees the failure.
            await generation.wait_finished()
            return renderer.failure(first)
        body = sse.follow(generation, 0, renderer, first=renderer.opening())
        return sse.event_stream(body, ping=renderer.ping_event())

    @staticmethod
    def attach(generation: GenerationHandle, after: int, renderer: Renderer) -> Response:
        """The events after `after`, then live; from the start, the opening comes first."""
        first = renderer.opening() if after == 0 else None
        return sse.event_stream(
            sse.follow(generation, after, renderer, first=first), ping=renderer.ping_event()
        )

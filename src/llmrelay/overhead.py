"""llmrelay's own time per request: `X-Llmrelay-Overhead-Ms` and `llmrelay_overhead_seconds`.

The overhead of a model route is the time from the request's arrival (this middleware, the
outermost of the app's own) to its response's first byte (the status line and headers, sent
with the first events), less the time its generation waited for the provider: until its
first event for a stream, until its end for a whole answer. What is left is what llmrelay
itself spent: parsing, validation, keys, starting the generation, the
provider's client building its HTTP request, the event loop's own delays, rendering. The wait
is counted from the moment the upstream request is sent (the HTTP client's request hook,
`providers.base.request_sent`), or from the generation's start for the embedded model, whose
computing is the wait.

Routes that never ask a model carry no header; the pipeline marks those that do.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-llmrelay-overhead-ms"
# The pipeline's mark on the request's state: seconds the generation waited for its provider.
_STATE_KEY = "llmrelay_upstream_seconds"


def mark_upstream(request: Request, started_at: float, until: float | None) -> None:
    """This request asked a model, which kept it waiting from `started_at` to `until`."""
    request.state.llmrelay_upstream_seconds = (until or time.perf_counter()) - started_at


class OverheadMiddleware:
    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()

        async def timing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                upstream = scope.get("state", {}).get(_STATE_KEY)
                if upstream is not None:
                    seconds = max(0.0, time.perf_counter() - arrived - upstream)
                    self.histogram.observe(seconds)
                    header = (HEADER, f"{seconds * 1000:.3f}".encode())
                    message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, timing_send)

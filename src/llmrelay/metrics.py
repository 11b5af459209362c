"""Prometheus metrics: `GET /metrics`, one registry per app.

Nothing is global: `create_app` may build many apps in one process (tests do), and
prometheus-client's default registry would refuse the second app's metrics. Each app gets its
own `CollectorRegistry`, made by `install()` and kept on `app.state.metrics`.

What is counted, and where:
- HTTP requests by method, route *template* and status, and open event streams: an ASGI
  middleware (`MetricsMiddleware`). The label is the matched route's template
  (`/api/messages/{id}/events`), never the raw path, so label values stay few.
- Generations (time to first token, duration, tokens in and out, upstream errors by kind,
  cancellations): `Metrics.observe_generation`, which `StreamRegistry` calls once when a
  generation ends. Nothing is done per token, so metrics cost nothing on the streaming path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmrelay.auth import open_route

if TYPE_CHECKING:
    from fastapi import FastAPI

    from llmrelay.streams import Generation, GenerationResult

# Seconds. TTFT of a remote model is 0.1-2 s, of the embedded one 10-500 ms; the low buckets
# are for fakes and caches.
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Seconds of llmrelay's own time per request: well under a millisecond is the aim.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# A model name can come from a client (/v1 requests name one): past this many distinct names,
# further ones are counted as "other", so a client cannot blow up the series count.
MAX_MODEL_LABELS = 50
MAX_KEY_LABELS = 100
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """The app's metrics and the registry they live in."""

    def __init__(self, *, per_key: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, open fds, cpu seconds
        self.requests = Counter(
            "llmrelay_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.open_streams = Gauge(
            "llmrelay_open_streams", "Event streams (text/event-stream responses) open now.", registry=r
        )
        self.running_generations = Gauge(
            "llmrelay_running_generations", "Generations running now, listened to or not.", registry=r
        )
        self.generations = Counter(
            "llmrelay_generations",
            "Generations ended, by provider, model and finish reason.",
            ["provider", "model", "finish_reason"],
            registry=r,
        )
        self.ttft = Histogram(
            "llmrelay_time_to_first_token_seconds",
            "From the start of a generation to its first text delta.",
            ["provider", "model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "llmrelay_generation_duration_seconds",
            "From the start of a generation to its end, however it ended.",
            ["provider", "model"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "llmrelay_tokens",
            "Tokens by model and direction (in: prompt, out: answer).",
            ["model", "direction"],
            registry=r,
        )
        self.upstream_errors = Counter(
            "llmrelay_upstream_errors",
            "Generations that failed, by error kind (upstream_timeout, rate_limited, …).",
            ["kind"],
            registry=r,
        )
        self.cancellations = Counter(
            "llmrelay_generations_cancelled",
            "Generations stopped before their end (the client left, or a cancel request).",
            registry=r,
        )
        self.overhead = Histogram(
            "llmrelay_overhead_seconds",
            "llmrelay's own time per model request: arrival to first byte, less the wait for "
            "the provider (see X-Llmrelay-Overhead-Ms).",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self._models: set[str] = set()
        # Per-key series only where the operator asks (LLMRELAY_METRICS_KEY_LABELS): a label
        # per key is a series per key; capped like model names.
        self.per_key = per_key
        self._keys: set[str] = set()
        self.key_requests = Counter(
            "llmrelay_key_requests",
            "Generations ended, by API key (name and prefix; 'no key' without keys).",
            ["key"],
            registry=r,
        )
        self.key_tokens = Counter(
            "llmrelay_key_tokens",
            "Tokens by API key and direction (in: prompt, out: answer).",
            ["key", "direction"],
            registry=r,
        )

    def model_label(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODEL_LABELS:
            return "other"
        self._models.add(model)
        return model

    def key_label(self, label: str) -> str:
        label = label or "no key"
        if label in self._keys:
            return label
        if len(self._keys) >= MAX_KEY_LABELS:
            return "other"
        self._keys.add(label)
        return label

    def observe_generation(self, generation: Generation, result: GenerationResult) -> None:
        """Record one ended generation (called once, by StreamRegistry)."""
        provider = generation.provider.info.name
        model = self.model_label(generation.identity.model)
        self.generations.labels(provider, model, result.finish_reason).inc()
        if result.ttft_seconds is not None:
            self.ttft.labels(provider, model).observe(result.ttft_seconds)
        self.duration.labels(provider, model).observe(result.duration_seconds)
        usage = result.usage
        if usage is not None and usage.input_tokens is not None:
            self.tokens.labels(model, "in").inc(usage.input_tokens)
        # Reported or estimated (a cancelled answer's tokens were still produced): the same
        # figure the usage rows and the client got (accounting.spent_tokens).
        if usage is not None and usage.output_tokens is not None:
            self.tokens.labels(model, "out").inc(usage.output_tokens)
        if self.per_key:
            key = self.key_label(generation.identity.key_label)
            self.key_requests.labels(key).inc()
            if usage is not None and usage.input_tokens is not None:
                self.key_tokens.labels(key, "in").inc(usage.input_tokens)
            if usage is not None and usage.output_tokens is not None:
                self.key_tokens.labels(key, "out").inc(usage.output_tokens)
        if result.failure is not None:
            self.upstream_errors.labels(result.failure.kind).inc()
        if result.finish_reason == "cancelled":
            self.cancellations.inc()

    async def endpoint(self, request: Request) -> Response:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            self.running_generations.set(runtime.streams.running())
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_label(scope: Scope, root_path: str) -> str:
    """The template of the route that matched, never the raw path.

    FastAPI puts its own routes on the scope; a mount (the static files) shows itself only by
    the prefix it adds to `root_path`, so that prefix plus `/{path}` is its label.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path or "/"
    mounted = scope.get("root_path", "")
    if isinstance(mounted, str) and len(mounted) > len(root_path):
        return f"{mounted[len(root_path) :]}/{{path}}"
    return UNMATCHED_ROUTE


class MetricsMiddleware:
    """Counts each answered request, and keeps the number of open event streams."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        root_path = scope.get("root_path", "")
        status = 0
        streaming = False

        async def counting_send(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True
                        metrics.open_streams.inc()
                        break
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            if streaming:
                metrics.open_streams.dec()
            # No answer at all: the client left first; 499 as the app itself says it.
            metrics.requests.labels(scope["method"], route_label(scope, root_path), str(status or 499)).inc()


def install(app: FastAPI, metrics: Metrics) -> None:
    """Give `app` its metrics, the middleware that counts requests, and `GET /metrics`."""
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    @open_route
    async def metrics_endpoint(request: Request) -> Response:
        return await metrics.endpoint(request)

    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

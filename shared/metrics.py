"""Prometheus metrics shared by every service. Labels stay bounded: no per-order or per-grid labels."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "mcc_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "mcc_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter("mcc_events_published_total", "events published to JetStream", ["service", "subject"])
EVENTS_CONSUMED = Counter(
    "mcc_events_consumed_total", "events taken from JetStream, by outcome", ["service", "consumer", "outcome"]
)
EVENTS_DEAD_LETTERED = Counter(
    "mcc_events_dead_lettered_total", "messages a consumer gave up on", ["service", "consumer"]
)
CONSUMER_LAG = Gauge("mcc_consumer_lag_messages", "messages pending or unacked", ["service", "consumer"])
OUTBOX_PENDING = Gauge("mcc_outbox_pending_events", "committed events not yet published", ["service"])


class MetricsMiddleware:
    """Counts and times every request by its route template (bounded), not its raw path."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message):  # noqa: ANN001
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, template).observe(time.perf_counter() - start)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

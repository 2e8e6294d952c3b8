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
HOLIDAY_CALENDAR_DAYS_LEFT = Gauge(
    "mcc_holiday_calendar_days_left",
    "days from today (China time) to the end of the holiday schedule working days are counted by "
    "(status=official: published years only; any: including provisional years)", ["status"])
WORKING_DAYS_GUESSED = Counter(
    "mcc_working_days_guessed_total",
    "days counted without a published holiday schedule (provisional: its statutory days; uncovered: Mon-Fri)",
    ["kind"])
CONSUMER_LAG = Gauge("mcc_consumer_lag_messages", "messages pending or unacked", ["service", "consumer"])
CONSUMER_RETRY_OLDEST = Gauge(
    "mcc_consumer_retry_oldest_seconds",
    "age of the oldest message a consumer is retrying because a dependency is unavailable (0: none)",
    ["service", "consumer"])
DB_COMMITS = Counter("mcc_db_commits_total", "database transactions committed by this process (empty ones "
                     "included): what a unit of work costs, counted where it happens")
OUTBOX_PENDING = Gauge("mcc_outbox_pending_events", "committed events not yet published", ["service"])

# --- the command centre's own figures (issue 6). Label values: channel, appeal_type (enums), category_group
# (the 2-digit big class), tier (town/county/city), county/town codes (10 + 96), timeliness on_time|late.
_TIMES = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 432000, 864000, 1728000)
APPEALS_RECEIVED = Counter("mcc_appeals_received_total", "appeals and reports accepted by intake",
                           ["channel", "appeal_type", "category_group"])
HOTLINE_DISPOSITIONS = Counter("mcc_hotline_dispositions_total",
                               "hotline appeals by what happened next (dispatched, answered, emergency, "
                               "out_of_scope, linked)", ["disposition"])
GRID_EVENTS = Counter("mcc_grid_events_total", "grid app events by outcome (resolved_on_spot, reported, "
                      "escalated)", ["outcome"])
DETECTIONS = Counter("mcc_detections_total", "machine detections by outcome (dispatched, review)", ["outcome"])
ORDERS_DISPATCHED = Counter("mcc_orders_dispatched_total", "orders sent to a unit", ["tier"])
ORDERS_SIGNED = Counter("mcc_orders_signed_total", "orders signed for (签收)", ["tier", "timeliness"])
ORDERS_CLOSED = Counter("mcc_orders_closed_total", "orders closed by the unit (办结)", ["tier", "timeliness"])
ORDERS_RETURNED = Counter("mcc_orders_returned_total", "return requests (退单)", ["tier"])
ORDERS_REOPENED = Counter("mcc_orders_reopened_total", "orders reopened (重办)", ["tier"])
ORDERS_MERGED = Counter("mcc_orders_merged_total", "orders merged into a master (并单)", [])
ORDERS_ESCALATED = Counter("mcc_orders_escalated_total", "escalations (提级)", ["from_tier", "to_tier"])
ORDER_TIME_TO_SIGN = Histogram("mcc_order_time_to_sign_seconds", "dispatch to sign-for", ["tier"], buckets=_TIMES)
ORDER_TIME_TO_CLOSE = Histogram("mcc_order_time_to_close_seconds", "dispatch to close", ["tier"], buckets=_TIMES)
ORDERS_OPEN = Gauge("mcc_orders_open", "open orders by the county and town where they are located", ["county", "town"])
ORDERS_OVERDUE = Gauge("mcc_orders_overdue", "open orders past a deadline, by the county and town where they are located", ["county", "town"])
EARLY_WARNINGS = Counter("mcc_early_warnings_total", "early-warning alerts raised", ["category_group"])


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

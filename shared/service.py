"""Wiring one service process: runtime + consumers + HTTP app, shared by every composition root."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, FastAPI

from shared.auth import check_token_secret
from shared.http import create_app
from shared.logs import configure_logging
from shared.messaging import ConsumerSpec
from shared.migrations import upgrade
from shared.ratelimit import FailedAuthentications
from shared.runtime import Runtime
from shared.web import session
from shared.web.docs import offline_docs

# The collector's first threshold, in container objects allocated and not freed. At Python's default (700) a service
# under load ran a young pass about every request, each walking the requests in flight and promoting them, which
# brought passes over the older generations and full passes over all the process holds: 10-12 % of the hotline's
# CPU in the create benchmark (gc.callbacks timing), 3-4 % at 10,000 (1.1 -> 0.4 s per 3,000 appeals).
GC_FIRST_THRESHOLD = 10_000


def service_app(*, runtime: Runtime, title: str, routers: Sequence[APIRouter],
                consumers: Sequence[ConsumerSpec] = (), migrate: bool = True,
                extra_start: Callable[[], Awaitable[None]] | None = None,
                extra_stop: Callable[[], Awaitable[None]] | None = None,
                max_body_bytes: int = 1_000_000, description: str = "", uses_redis: bool = False) -> FastAPI:
    """The FastAPI app of one service: migrations, NATS consumers and the outbox relay start with it.
    `uses_redis`: the service uses Redis (sessions, sign-in or rate limits), so /readyz reports it."""
    settings = runtime.settings
    check_token_secret(settings.token_secret, demo=settings.demo,
                       strict=settings.database_url.startswith("postgres"))

    async def on_start() -> None:
        gc.set_threshold(GC_FIRST_THRESHOLD, *gc.get_threshold()[1:])
        if migrate:
            await upgrade(runtime.service, settings.database_url, schema=runtime.schema)
        for spec in consumers:
            runtime.bus.subscribe(spec)
        await runtime.start()
        if extra_start:
            await extra_start()

    async def on_stop() -> None:
        # Consumers first: a handler still running must find the clients it uses (grid, webhooks) open.
        await runtime.stop_consuming()
        if extra_stop:
            await extra_stop()
        await runtime.stop()

    async def readiness() -> dict[str, str]:
        return await runtime.readiness(redis=uses_redis)

    app = create_app(service=runtime.service, title=title, routers=routers, readiness=readiness,
                     on_start=on_start, on_stop=on_stop, max_body_bytes=max_body_bytes,
                     description=description)
    offline_docs(app)
    session.install(app)
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.token_secret = settings.token_secret
    app.state.auth_failures = FailedAuthentications(limit=settings.auth_failures_per_minute)
    return app


def configure_process_logging(runtime: Runtime) -> None:
    configure_logging(runtime.service, runtime.settings.log_level, runtime.settings.log_json)

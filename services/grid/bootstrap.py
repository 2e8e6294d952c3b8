"""Grid's composition root."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from services.grid.adapters.orm import metadata
from services.grid.adapters.uow import GridUnitOfWork
from services.grid.adapters.webhooks import HttpSender
from services.grid.config import GridSettings
from services.grid.domain.lookup import GridIndex
from services.grid.domain.webhook_targets import allow_list
from services.grid.entrypoints import api, consumers, registry_feed
from services.grid.service import handlers
from shared import apikeys
from shared.categories import CategoryTable
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app

log = logging.getLogger("mcc.grid")


def demo_index() -> GridIndex:
    """The spatial index over the demo city's 9,303 grids (without a database: benchmarks, tools)."""
    from shared.democity import grids

    return GridIndex.build(grids())


def build(settings: GridSettings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The grid app; tests pass their own settings or runtime by argument."""
    settings = settings or GridSettings()
    runtime = runtime or Runtime.build("grid", settings, metadata)
    runtime.unit_of_work = GridUnitOfWork  # also on a runtime a test or benchmark built
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        loaded = await handlers.prepare_registry(uow=runtime.uow(), demo_city=settings.demo_city)
        if loaded:
            log.info("demo city loaded into the empty grid registry", extra={"grids": loaded})
        await handlers.refresh_index(uow=runtime.uow(), holder=app.state.grid_index)
        tasks.append(asyncio.create_task(_follow_registry(app, runtime, settings.index_poll_s),
                                         name="grid-index"))
        tasks.append(asyncio.create_task(_push_webhooks(app, runtime, settings.webhook_poll_s),
                                         name="grid-webhooks"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if isinstance(app.state.webhook_send, HttpSender):
            await app.state.webhook_send.close()

    app = service_app(runtime=runtime, title="mcc grid", routers=[api.router, registry_feed.router],
                      consumers=consumers.consumers(runtime), extra_start=start, extra_stop=stop,
                      max_body_bytes=settings.max_request_bytes,
                      description="一格一码: the grid registry and the grid app integration API",
                      uses_redis=True)  # per-key rate limits
    app.state.grid_index = handlers.IndexHolder(GridIndex([]))
    app.state.categories = CategoryTable.load(settings.categories_file)
    app.state.key_cache = apikeys.KeyCache(settings.key_cache_s)
    app.state.group_commit = handlers.event_group_commit(runtime.uow)
    app.state.webhook_allowed = allow_list(settings.webhook_allow_networks)
    app.state.webhook_send = HttpSender(allowed=app.state.webhook_allowed)  # tests put their own receiver here
    return app


async def _follow_registry(app: FastAPI, runtime: Runtime, poll_s: float) -> None:
    """Rebuild this process's index when another process imported grids (the registry version moved)."""
    while True:
        await asyncio.sleep(poll_s)
        try:
            version = await handlers.registry_version(uow=runtime.uow())
            if version != app.state.grid_index.version:
                await handlers.refresh_index(uow=runtime.uow(), holder=app.state.grid_index)
        except Exception as exc:  # the database may be briefly away; the old index keeps serving
            log.warning("grid index not refreshed", extra={"error": repr(exc)})


async def _push_webhooks(app: FastAPI, runtime: Runtime, poll_s: float) -> None:
    """Deliver event changes to registered webhooks, round after round."""
    while True:
        try:
            delivered = await handlers.deliver_webhooks(new_uow=runtime.uow, send=app.state.webhook_send)
        except Exception as exc:  # the database may be briefly away: try again next round
            log.warning("webhook round failed", extra={"error": repr(exc)})
            delivered = 0
        if not delivered:
            await asyncio.sleep(poll_s)


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.grid.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

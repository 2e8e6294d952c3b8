"""Dispatch's composition root: the one place that wires settings, adapters and entrypoints."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from services.dispatch.adapters import reference
from services.dispatch.adapters.grid_map import GridMap
from services.dispatch.adapters.orm import metadata
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.config import DispatchSettings
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.policy import DispatchPolicy
from services.dispatch.entrypoints import (
    account_pages,
    accounts,
    api,
    attachment_routes,
    city,
    console,
    consumers,
    org_routes,
    rates_routes,
    signin,
    topology_routes,
)
from services.dispatch.entrypoints.timers import TimerLoop
from services.dispatch.service import handlers
from shared import web
from shared.attachments import AttachmentStore
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app

log = logging.getLogger("mcc.dispatch")


def build(settings: DispatchSettings | None = None, *, runtime: Runtime | None = None,
          policy: DispatchPolicy | None = None, timers: bool = True) -> FastAPI:
    """The dispatch app; tests pass their own settings, runtime or policy by argument.

    The tree in the database wins over the one in `policy` (or the topology file): it is only loaded into an
    empty database, and admin edits live there.
    """
    settings = settings or DispatchSettings()
    runtime = runtime or Runtime.build("dispatch", settings, metadata)
    runtime.unit_of_work = DispatchUnitOfWork  # the handlers' repositories, on a runtime tests built too
    from_files = policy is None
    initial = reference.initial_units(settings) if policy is None else list(policy.org)
    policy = policy or reference.build_policy(settings, OrgTree.from_units(initial))
    holder = handlers.PolicyHolder(policy)
    timer_loop = TimerLoop(runtime, holder, settings)

    async def start() -> None:
        reference.watch_calendar(policy.calendar)  # at start: the warning goes to the configured log
        org, version = await handlers.load_org(uow=runtime.uow())
        if org is None:
            try:
                await handlers.replace_units(uow=runtime.uow(), units=initial, replace_all=True)
            except IntegrityError:
                pass  # another dispatch process, starting at the same moment, stored the tree first
            org, version = await handlers.load_org(uow=runtime.uow())
            assert org is not None
        holder.policy, holder.topology_version = holder.policy.with_org(org), version
        holder.ready.set()
        if from_files:  # a policy passed by argument (tests) has no files to compare
            # After readiness, not before: 100,000 open orders take a while, and meanwhile the timer loop
            # fires by each order's own log (a stale instant only shifts when it looks, and it reschedules
            # what it finds not due). A crash midway redoes it at the next start (the fingerprint is stored last).
            background.append(asyncio.create_task(reschedule(), name="dispatch-reschedule"))
        if timers:
            timer_loop.start()
        await grid_map.start(runtime)  # the city map's outlines follow grid's registry in the background

    grid_map = GridMap(settings.grid_url, poll_s=settings.map_poll_s)
    background: list[asyncio.Task[Any]] = []

    async def reschedule() -> None:
        try:
            await handlers.reschedule_if_policy_changed(uow=runtime.uow(), holder=holder,
                                                        fingerprint=reference.timer_fingerprint(settings))
        except Exception:  # the next start tries again; the timer loop fires meanwhile by each order's log
            log.exception("rescheduling open orders after a policy change failed")

    async def stop() -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await timer_loop.stop()
        await grid_map.close()

    app = service_app(runtime=runtime, title="mcc dispatch",
                      routers=[api.router, rates_routes.router, topology_routes.router, attachment_routes.router,
                               console.router, city.router, accounts.router, signin.router,
                               account_pages.router, org_routes.router],
                      consumers=consumers.consumers(runtime, holder, settings.pinned_counties),
                      extra_start=start, extra_stop=stop,
                      description="Three-tier routing and the work-order closed loop (派单、签收、办结、回访)",
                      uses_redis=True)  # sign-in, sessions, sign-in limits
    app.state.policy = holder
    app.state.grid_map = grid_map
    app.state.attachments = AttachmentStore(runtime.settings.attachment_dir,
                                            max_bytes=runtime.settings.attachment_max_bytes)
    web.mount(app, templates=console.TEMPLATES)
    signin.install(app)  # sign-in and account pages; session renewal checks the account is still active
    app.state.timers = timer_loop
    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.dispatch.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

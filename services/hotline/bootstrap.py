"""Hotline's composition root."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.hotline.adapters.orm import OrgTreeSnapshot, metadata
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.config import HotlineSettings
from services.hotline.domain.duplicates import DuplicatePolicy
from services.hotline.domain.followup import FollowUpPolicy
from services.hotline.entrypoints import api, console, consumers
from services.hotline.service import knowledge
from services.hotline.service.appeals import appeal_group_commit
from services.hotline.service.handlers import HotlineContext
from shared import orgchart, web
from shared.categories import CategoryTable
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app
from shared.snapshot_store import TableStore
from shared.snapshots import Fixed, Follower


def build(settings: HotlineSettings | None = None, *, runtime: Runtime | None = None,
          org: Follower[orgchart.OrgChart] | Fixed[orgchart.OrgChart] | None = None) -> FastAPI:
    """The hotline app; tests pass their own settings, runtime or organisation tree (a `Fixed` chart: no
    dispatch to follow) by argument."""
    settings = settings or HotlineSettings()
    runtime = runtime or Runtime.build("hotline", settings, metadata, unit_of_work=HotlineUnitOfWork)
    runtime.unit_of_work = HotlineUnitOfWork  # the hotline's repositories, on a runtime a test built too
    hotline_settings = runtime.settings if isinstance(runtime.settings, HotlineSettings) else settings
    # The console names units (and places addresses) by dispatch's organisation tree, followed in the background
    # and stored in hotline's database, so a restart while dispatch is down starts from the stored copy.
    org_source = None
    if org is None:
        org_source = orgchart.dispatch_source(hotline_settings.dispatch_url)
        org = orgchart.follower(org_source, poll_s=hotline_settings.org_poll_s, store=TableStore(
            runtime.uow, OrgTreeSnapshot, items="units", count="unit_count"))
    ctx = HotlineContext(
        categories=CategoryTable.load(hotline_settings.categories_file),
        knowledge=knowledge.KnowledgeBase(),
        duplicates=DuplicatePolicy(caller_window=timedelta(hours=hotline_settings.duplicate_caller_window_h),
                                   category_window=timedelta(hours=hotline_settings.duplicate_category_window_h),
                                   radius_m=hotline_settings.duplicate_radius_m),
        followups=FollowUpPolicy(max_attempts=hotline_settings.followup_max_attempts,
                                 retry_after=timedelta(seconds=hotline_settings.followup_retry_after_s)),
        org=org,
    )
    ctx.appeal_writer = appeal_group_commit(runtime.uow, ctx)

    async def start() -> None:
        if hotline_settings.seed_knowledge:
            await knowledge.seed_if_empty(runtime.uow)
        await ctx.knowledge.refresh(runtime.uow)
        await ctx.knowledge.start(runtime, hotline_settings.knowledge_poll_s)
        await org.start(runtime)

    async def stop() -> None:
        await ctx.knowledge.stop()
        await org.stop()
        if org_source is not None:
            await org_source.close()

    app = service_app(runtime=runtime, title="mcc hotline", routers=[api.router, console.router],
                      consumers=consumers.consumers(runtime), extra_start=start, extra_stop=stop,
                      description="12345 operators: appeals, direct answers, duplicates, follow-up calls",
                      uses_redis=True)  # the console's session renewal
    app.state.hotline = ctx
    app.state.org = org
    web.mount(app, templates=console.TEMPLATES)
    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.hotline.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

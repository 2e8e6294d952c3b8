"""Intake's composition root."""

from __future__ import annotations

from fastapi import FastAPI, Request

from services.intake.adapters.grid_client import GridClient
from services.intake.adapters.orm import OrgTreeSnapshot, metadata
from services.intake.adapters.uow import IntakeUnitOfWork
from services.intake.config import IntakeSettings
from services.intake.domain.normalise import DetectionPolicy
from services.intake.domain.open311 import Open311Error
from services.intake.entrypoints import api, consumers, open311_api
from services.intake.service import registry
from services.intake.service.handlers import Locator, Reference
from shared import orgchart
from shared.categories import CategoryTable
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app
from shared.snapshot_store import TableStore
from shared.snapshots import Fixed, Follower


def build(settings: IntakeSettings | None = None, *, runtime: Runtime | None = None,
          locator: Locator | None = None, org: Follower[orgchart.OrgChart] | Fixed[orgchart.OrgChart] | None = None,
          categories: CategoryTable | None = None, registry_source: registry.RegistrySource | None = None) -> FastAPI:
    """The intake app; tests pass their own settings, runtime, locator, registry source, organisation tree (a
    `Fixed` chart: no dispatch to follow) or category table."""
    settings = settings or (runtime.settings if runtime is not None else IntakeSettings())  # type: ignore[assignment]
    runtime = runtime or Runtime.build("intake", settings, metadata)
    runtime.unit_of_work = IntakeUnitOfWork  # also on a runtime a test built
    # Locating is in-process, from intake's stored copy of grid's registry (kept at grid's version by a follower).
    client = GridClient(settings.grid_url) if locator is None and registry_source is None else None
    source = registry_source or client
    copy = None if locator is not None or source is None else registry.follower(
        source=source, new_uow=runtime.uow, poll_s=settings.registry_poll_s)
    projection = registry.RegistryProjection(copy)
    # Unit names (Open311's agency_responsible) and address places follow dispatch's organisation tree.
    org_source = None
    if org is None:
        org_source = orgchart.dispatch_source(settings.dispatch_url)
        org = orgchart.follower(org_source, poll_s=settings.org_poll_s, store=TableStore(
            runtime.uow, OrgTreeSnapshot, items="units", count="unit_count"))
    places = orgchart.Places(org, wait=True)  # an address waits for the tree rather than going unplaced
    reference = Reference(
        categories=categories or CategoryTable.load(),
        policy=DetectionPolicy(settings.detection_min_confidence, settings.detector_thresholds()),
        unit_names=orgchart.UnitNames(org), outside_city_m=settings.outside_city_m,
        locator=locator or projection, places=places)

    async def start() -> None:
        await org.start(runtime)
        if copy is not None:
            await copy.start(runtime)

    async def stop() -> None:
        await org.stop()
        if copy is not None:
            await copy.stop()
        for closing in (client, org_source):
            if closing is not None:
                await closing.close()

    app = service_app(runtime=runtime, title="mcc intake", routers=[api.router, open311_api.router],
                      consumers=consumers.consumers(runtime, locator=locator or projection, reference=reference,
                                                    places=places, batch=settings.consumer_batch,
                                                    loops=settings.consumer_loops),
                      extra_start=start, extra_stop=stop, description="The one door: normalise every channel, locate, publish")
    app.state.reference = reference
    app.state.registry = projection
    app.state.org = org

    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error):  # noqa: ANN202
        return open311_api.error_response(request, exc)

    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.intake.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

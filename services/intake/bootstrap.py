"""Intake's composition root."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request

from services.intake.adapters.grid_client import GridClient
from services.intake.adapters.orm import metadata
from services.intake.adapters.uow import IntakeUnitOfWork
from services.intake.config import IntakeSettings
from services.intake.domain.normalise import DetectionPolicy
from services.intake.domain.open311 import Open311Error
from services.intake.entrypoints import api, consumers, open311_api
from services.intake.service import registry
from services.intake.service.handlers import AddressMatcher, Locator, Reference
from shared.categories import CategoryTable
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app


def demo_places() -> AddressMatcher:
    """Place names of the demo city's topology, for appeals that come with an address and no coordinates."""
    from shared.democity import units
    from shared.places import PlaceMatcher

    return PlaceMatcher.build(units())


def demo_unit_names() -> dict[str, str]:
    """Unit code → name, for Open311's agency_responsible."""
    from shared.democity import units

    return {u.code: u.name for u in units()}


def build(settings: IntakeSettings | None = None, *, runtime: Runtime | None = None,
          locator: Locator | None = None, places: AddressMatcher | None = None,
          categories: CategoryTable | None = None, registry_source: registry.RegistrySource | None = None) -> FastAPI:
    """The intake app; tests pass their own settings, runtime, locator, registry source or category table."""
    settings = settings or (runtime.settings if runtime is not None else IntakeSettings())  # type: ignore[assignment]
    runtime = runtime or Runtime.build("intake", settings, metadata)
    runtime.unit_of_work = IntakeUnitOfWork  # also on a runtime a test built
    # Locating is in-process, from intake's stored copy of grid's registry (kept at grid's version by a poller).
    projection = registry.RegistryProjection()
    client = GridClient(settings.grid_url) if locator is None and registry_source is None else None
    source = registry_source or client
    tasks: list[asyncio.Task[None]] = []
    reference = Reference(
        categories=categories or CategoryTable.load(),
        policy=DetectionPolicy(settings.detection_min_confidence, settings.detector_thresholds()),
        unit_names=demo_unit_names(), outside_city_m=settings.outside_city_m,
        locator=locator or projection, places=places or demo_places())

    async def start() -> None:
        if locator is not None or source is None:
            return
        await registry.load_stored(projection=projection, uow=runtime.uow())
        tasks.append(asyncio.create_task(registry.follow(
            projection=projection, new_uow=runtime.uow, source=source, poll_s=settings.registry_poll_s),
            name="intake-registry"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if client is not None:
            await client.close()

    app = service_app(runtime=runtime, title="mcc intake", routers=[api.router, open311_api.router],
                      consumers=consumers.consumers(runtime, locator=locator or projection, reference=reference,
                                                    places=places or demo_places(), batch=settings.consumer_batch,
                                                    loops=settings.consumer_loops),
                      extra_start=start, extra_stop=stop, description="The one door: normalise every channel, locate, publish")
    app.state.reference = reference
    app.state.registry = projection

    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error):  # noqa: ANN202
        return open311_api.error_response(request, exc)

    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.intake.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

"""Intake's composition root."""

from __future__ import annotations

from fastapi import FastAPI, Request

from services.intake.adapters.grid_client import GridClient
from services.intake.adapters.orm import metadata
from services.intake.config import IntakeSettings
from services.intake.domain.normalise import DetectionPolicy
from services.intake.domain.open311 import Open311Error
from services.intake.entrypoints import api, consumers, open311_api
from services.intake.service.handlers import AddressMatcher, Locator, Reference
from shared.categories import CategoryTable
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app


def demo_places() -> AddressMatcher:
    """Place names of the demo city's topology, for appeals that come with an address and no coordinates."""
    from services.intake.domain.address import PlaceMatcher
    from shared.democity import units

    return PlaceMatcher.build(units())


def demo_unit_names() -> dict[str, str]:
    """Unit code → name, for Open311's agency_responsible."""
    from shared.democity import units

    return {u.code: u.name for u in units()}


def build(settings: IntakeSettings | None = None, *, runtime: Runtime | None = None,
          locator: Locator | None = None, places: AddressMatcher | None = None,
          categories: CategoryTable | None = None) -> FastAPI:
    """The intake app; tests pass their own settings, runtime, locator or category table by argument."""
    settings = settings or (runtime.settings if runtime is not None else IntakeSettings())  # type: ignore[assignment]
    runtime = runtime or Runtime.build("intake", settings, metadata)
    grid = GridClient(settings.grid_url) if locator is None else None
    locator = locator or grid
    assert locator is not None
    reference = Reference(
        categories=categories or CategoryTable.load(),
        policy=DetectionPolicy(settings.detection_min_confidence, settings.detector_thresholds()),
        unit_names=demo_unit_names())

    async def close() -> None:
        if grid is not None:
            await grid.close()

    app = service_app(runtime=runtime, title="mcc intake", routers=[api.router, open311_api.router],
                      consumers=consumers.consumers(runtime, locator=locator, reference=reference,
                                                    places=places or demo_places()),
                      extra_stop=close, description="The one door: normalise every channel, locate, publish")
    app.state.reference = reference

    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error):  # noqa: ANN202
        return open311_api.error_response(request, exc)

    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.intake.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

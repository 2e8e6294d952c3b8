"""Intake's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.adapters.grid_client import GridClient
from services.intake.adapters.orm import metadata
from services.intake.config import IntakeSettings
from services.intake.entrypoints import api, consumers
from services.intake.service.handlers import AddressMatcher, Locator
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app


def demo_places() -> AddressMatcher:
    """Place names of the demo city's topology, for appeals that come with an address and no coordinates."""
    from services.intake.domain.address import PlaceMatcher
    from shared.democity import units

    return PlaceMatcher.build(units())


def build(settings: IntakeSettings | None = None, *, runtime: Runtime | None = None,
          locator: Locator | None = None, places: AddressMatcher | None = None) -> FastAPI:
    """The intake app; tests pass their own settings, runtime or locator by argument."""
    settings = settings or IntakeSettings()
    runtime = runtime or Runtime.build("intake", settings, metadata)
    grid = GridClient(settings.grid_url) if locator is None else None
    locator = locator or grid
    assert locator is not None

    async def close() -> None:
        if grid is not None:
            await grid.close()

    return service_app(runtime=runtime, title="mcc intake", routers=[api.router],
                       consumers=consumers.consumers(runtime, locator=locator, places=places or demo_places()), extra_stop=close,
                       description="The one door: normalise every channel, locate, publish")


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.intake.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

"""Dispatch's composition root: the one place that wires settings, adapters and entrypoints."""

from __future__ import annotations

from fastapi import FastAPI

from services.dispatch.adapters.orm import metadata
from services.dispatch.config import DispatchSettings
from services.dispatch.entrypoints import api, consumers
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app


def build(settings: DispatchSettings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The dispatch app; tests pass their own settings (or a runtime) by argument."""
    settings = settings or DispatchSettings()
    runtime = runtime or Runtime.build("dispatch", settings, metadata)
    return service_app(runtime=runtime, title="mcc dispatch", routers=[api.router],
                       consumers=consumers.consumers(runtime, city_code=settings.city_code),
                       description="Three-tier routing and the work-order closed loop (派单、签收、办结、回访)")


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.dispatch.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

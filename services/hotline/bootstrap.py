"""Hotline's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.hotline.adapters.orm import metadata
from services.hotline.config import HotlineSettings
from services.hotline.entrypoints import api, consumers
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app


def build(settings: HotlineSettings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The hotline app; tests pass their own settings or runtime by argument."""
    settings = settings or HotlineSettings()
    runtime = runtime or Runtime.build("hotline", settings, metadata)
    return service_app(runtime=runtime, title="mcc hotline", routers=[api.router],
                       consumers=consumers.consumers(runtime),
                       description="12345 operators: appeals, direct answers, duplicates, follow-up calls")


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.hotline.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

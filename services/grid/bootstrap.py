"""Grid's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.grid.adapters.orm import metadata
from services.grid.config import GridSettings
from services.grid.entrypoints import api
from services.grid.service.handlers import Index
from shared.runtime import Runtime
from shared.service import configure_process_logging, service_app


def demo_index() -> Index:
    """The spatial index over the demo city's 9,303 grids."""
    from services.grid.domain.lookup import GridIndex
    from shared.democity import grids

    return GridIndex.build(grids())


def build(settings: GridSettings | None = None, *, runtime: Runtime | None = None,
          index: Index | None = None) -> FastAPI:
    """The grid app; tests pass their own settings, runtime or index by argument."""
    settings = settings or GridSettings()
    runtime = runtime or Runtime.build("grid", settings, metadata)
    app = service_app(runtime=runtime, title="mcc grid", routers=[api.router],
                      description="一格一码: the grid registry and the grid app integration API")
    app.state.grid_index = index or demo_index()
    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory services.grid.bootstrap:app`."""
    application = build()
    configure_process_logging(application.state.runtime)
    return application

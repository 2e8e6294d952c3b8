"""Every service's app built (not started) on a throwaway SQLite file: for checks over all operations."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

SERVICES = ("grid", "intake", "dispatch", "hotline")


def built_apps(tmp: Path) -> dict[str, FastAPI]:
    """Each service's FastAPI app as its composition root builds it; nothing is started or connected."""
    apps = {}
    for name in SERVICES:
        config = importlib.import_module(f"services.{name}.config")
        settings_cls = next(getattr(config, n) for n in dir(config)
                            if n.endswith("Settings") and n != "ServiceSettings")
        settings = settings_cls(database_url=f"sqlite:///{tmp / (name + '.db')}")
        apps[name] = importlib.import_module(f"services.{name}.bootstrap").build(settings)
    return apps


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute of an app, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            yield from api_routes(route.routes)

"""Grid HTTP API: the registry, location lookup, and the grid app integration (API keys).

One router per use case; errors a use case raises (shared.errors) are answered by the app factory's one
exception handler, so no route catches anything.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.grid.entrypoints import event_routes, key_routes, patrol_routes, registry_routes

router = APIRouter()
for part in (registry_routes, key_routes, event_routes, patrol_routes):
    router.include_router(part.router)

"""What grid's use cases share: counter names, the tables they read through shared helpers, the lookup."""

from __future__ import annotations

from typing import Any, Protocol

from services.grid.adapters.event_repository import CHANGE_COUNTER as CHANGE_COUNTER  # re-exported
from services.grid.adapters.orm import metadata
from services.grid.adapters.registry_repository import REGISTRY_COUNTER as REGISTRY_COUNTER  # re-exported
from services.grid.adapters.uow import GridUnitOfWork
from shared.errors import Forbidden
from shared.scope import Scope

CONSUMER_ORDERS = "grid-orders"


KEYS = metadata.tables["api_key"]


IDEMPOTENCY = metadata.tables["idempotency_key"]


class Index(Protocol):
    def locate(self, lon: float, lat: float) -> Any: ...


def field_error(field_: str, message: str, type_: str) -> dict[str, Any]:
    return {"field": field_, "in": "body", "message": message, "type": type_}


async def covers_area(uow: GridUnitOfWork, scope: Scope, unit: str | None) -> bool:
    """Whether a scope covers the whole area of a town or county code (None: the whole city)."""
    if scope.everything or unit is None:
        return scope.everything
    county = await uow.grid_events.county_of_town(unit)
    return scope.covers(town_code=unit, county_code=county) if county else scope.covers(county_code=unit)


async def require_area(uow: GridUnitOfWork, scope: Scope, *, town_code: str | None, county_code: str | None) -> None:
    """Forbidden (403: which towns and counties exist is public) for a filter outside the caller's scope."""
    for unit in (town_code, county_code):
        if unit is not None and not await covers_area(uow, scope, unit):
            raise Forbidden(f"{unit} 不在您的辖区内")

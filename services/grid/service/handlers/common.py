"""What grid's use cases share: counter names, the tables they read through shared helpers, the lookup."""

from __future__ import annotations

from typing import Any, Protocol

from services.grid.adapters.orm import metadata

CONSUMER_ORDERS = "grid-orders"


CHANGE_COUNTER = "grid_event_change"  # the monotonic change sequence behind `?since=`


REGISTRY_COUNTER = "grid_registry_version"  # bumped by every import: other processes rebuild their index


KEYS = metadata.tables["api_key"]


IDEMPOTENCY = metadata.tables["idempotency_key"]


class Index(Protocol):
    def locate(self, lon: float, lat: float) -> Any: ...


def field_error(field_: str, message: str, type_: str) -> dict[str, Any]:
    return {"field": field_, "in": "body", "message": message, "type": type_}

"""A grid event as the grid app reads it, and outcome counts kept until commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.grid.adapters.orm import GridEvent
from shared import metrics


@dataclass
class Outcomes:
    """Metric outcomes to count once the transaction has committed."""

    counts: list[str] = field(default_factory=list)

    def record(self) -> None:
        for outcome in self.counts:
            metrics.GRID_EVENTS.labels(outcome).inc()


_EVENT_FIELDS = tuple(GridEvent.__table__.columns.keys())


_PRIVATE = ("key_id", "order_id", "order_version")  # bookkeeping the grid app never reads


_TIMES = ("created_at", "updated_at", "reported_at", "resolved_at")


def _row(event: GridEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _EVENT_FIELDS}


def _view(row: dict[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in _EVENT_FIELDS if name not in _PRIVATE}
    for name in _TIMES:
        out[name] = row[name].isoformat() if row.get(name) else None
    out["escalated"], out["flagged"] = bool(row.get("escalated")), bool(row.get("flagged"))
    out["photo_ids"], out["after_photo_ids"] = list(row.get("photo_ids") or []), list(row.get("after_photo_ids") or [])
    return out


def event_view(event: GridEvent) -> dict[str, Any]:
    """The event as the grid app reads it (JSON-able: it is also the stored idempotent answer)."""
    return _view(_row(event))

"""What the use cases of intake share: its consumers' names, its collaborators, its errors, the incident row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from services.intake.adapters.grid_client import GridLocation
from services.intake.adapters.orm import metadata
from services.intake.domain.normalise import DetectionPolicy, category_group
from shared import metrics
from shared.categories import CategoryTable
from shared.events.v1 import IncidentReported, LocatedBy, Location, Urgency

CONSUMER_REPORTED = "intake-reported"
CONSUMER_ORDERS = "intake-orders"
IDEMPOTENCY = metadata.tables["idempotency_key"]
API_KEYS = metadata.tables["api_key"]
MAX_QUEUE = 500


class Locator(Protocol):
    """Coordinates → grid codes, in-process (raises TransientError while it has nothing to locate with)."""

    def locate(self, lon: float, lat: float) -> GridLocation: ...


class AddressMatcher(Protocol):
    def match(self, text: str) -> Any: ...


@dataclass(frozen=True)
class Reference:
    """What intake checks reports against: the category table, the detection policy, unit names, and how far
    outside every grid a point may be and still go to the nearest town."""

    categories: CategoryTable
    policy: DetectionPolicy = field(default_factory=DetectionPolicy)
    unit_names: Mapping[str, str] = field(default_factory=dict)
    outside_city_m: float = 5000.0
    locator: Locator | None = None  # where coordinates are (checking a scoped key's writes at the door)
    places: AddressMatcher | None = None  # which place an address names


def incident_row(report: IncidentReported, *, status: str, location: Location, located_by: LocatedBy,
                 now: datetime, reason: str | None = None, keep_report: bool = False) -> dict[str, Any]:
    """The incident's row as plain values, every column of intake's incident table (one multi-row INSERT takes
    a batch of them: `uow.incidents.add_new`)."""
    return dict(
        id=report.incident_id, channel=report.channel.value, source_ref=report.source_ref,
        appeal_type=report.appeal_type.value, category_code=report.category_code,
        urgency=(report.urgency or Urgency.NORMAL).value, status=status, located_by=located_by.value,
        grid_code=location.grid_code, village_code=location.village_code, town_code=location.town_code,
        county_code=location.county_code, reason=reason[:500] if reason else None, reported_at=report.reported_at,
        accepted_at=now, reviewed_by=None, reviewed_at=None,
        report=report.model_dump(mode="json") if keep_report else None)


def count_accepted(report: IncidentReported) -> None:
    metrics.APPEALS_RECEIVED.labels(report.channel.value, report.appeal_type.value,
                                    category_group(report.category_code)).inc()

"""The grid API's request and answer bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, TypeAdapter, ValidationError

from services.grid.service import handlers
from shared.http import field_errors


class LocatedPublic(BaseModel):
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str
    flagged: bool
    distance_m: float | None = None


class MemberPublic(BaseModel):
    name: str
    role: str
    phone: str


class GridPublic(BaseModel):
    code: str
    name: str
    kind: str
    dedicated_type: str | None
    village_code: str
    town_code: str
    county_code: str


class GridDetail(GridPublic):
    polygon: dict[str, Any]
    members: list[MemberPublic]


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope_unit: str | None = Field(None, min_length=6, max_length=16, description="a county or town code")


class KeyPublic(BaseModel):
    id: str
    name: str
    scope_unit: str | None
    created_at: datetime
    revoked_at: datetime | None = None


class KeyIssued(KeyPublic):
    key: str = Field(description="the plaintext key, shown this once")


class WebhookSet(BaseModel):
    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://", description="where changes are POSTed")


PhotoIds = list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]]


class GridEventCreate(BaseModel):
    category_code: str = Field(min_length=1, max_length=32)
    description: str = Field(min_length=1, max_length=10_000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    reporter_id: str = Field(min_length=1, max_length=64, description="the grid worker's id")
    reporter_name: str | None = Field(None, max_length=50)
    handling: Literal["report", "resolved_on_spot", "pending"] = Field(
        "report", description="上报 at once, 就地解决 (needs after_photo_ids), or pending (resolve or 提级 later)")
    photo_ids: PhotoIds = Field(default_factory=list, max_length=9)
    after_photo_ids: PhotoIds = Field(default_factory=list, max_length=9)
    resolution_note: str | None = Field(None, max_length=2000)
    id: str | None = Field(None, min_length=1, max_length=64, description="the app's own id for this event")

    def to_command(self) -> handlers.ReportGridEvent:
        return handlers.ReportGridEvent(
            category_code=self.category_code, description=self.description, lon=self.lon, lat=self.lat,
            reporter_id=self.reporter_id, reporter_name=self.reporter_name, handling=self.handling,
            photo_ids=tuple(self.photo_ids), after_photo_ids=tuple(self.after_photo_ids),
            resolution_note=self.resolution_note, client_id=self.id)


class GridEventBatchItem(GridEventCreate):
    id: str = Field(min_length=1, max_length=64, description="the app's own id: the same id is one event")


class GridEventPublic(BaseModel):
    id: str
    client_id: str | None
    incident_id: str
    state: str
    escalated: bool
    category_code: str
    description: str
    lon: float
    lat: float
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str | None
    flagged: bool
    reporter_id: str
    reporter_name: str | None
    photo_ids: list[str]
    after_photo_ids: list[str]
    resolution_note: str | None
    order_number: str | None
    order_state: str | None
    change_seq: int | None
    created_at: datetime
    updated_at: datetime
    reported_at: datetime | None
    resolved_at: datetime | None


class Changes(BaseModel):
    items: list[GridEventPublic]
    cursor: int = Field(description="pass as `since` next time")
    more: bool


_ITEM = TypeAdapter(GridEventBatchItem)


class Resolution(BaseModel):
    after_photo_ids: PhotoIds = Field(min_length=1, max_length=9, description="photos after the fix (evidence)")
    note: str | None = Field(None, max_length=2000)


class PatrolStart(BaseModel):
    worker_id: str = Field(min_length=1, max_length=64)
    grid_code: str = Field(min_length=6, max_length=32)
    started_at: AwareDatetime | None = None


class TrackPoint(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    at: AwareDatetime


class TrackPoints(BaseModel):
    points: list[TrackPoint] = Field(min_length=1, max_length=1000)


class PatrolEnd(BaseModel):
    ended_at: AwareDatetime | None = None


def parse_batch_items(items: list[dict[str, Any]]) -> list[handlers.ReportGridEvent | list[dict[str, Any]]]:
    """Each batch item checked on its own: a command, or its field-level errors (prefixed items[n].)."""
    parsed: list[handlers.ReportGridEvent | list[dict[str, Any]]] = []
    for n, raw in enumerate(items):
        try:
            parsed.append(_ITEM.validate_python(raw).to_command())
        except ValidationError as exc:
            parsed.append([{**e, "field": f"items[{n}].{e['field']}"} for e in field_errors(exc.errors())])
    return parsed

"""Grid's tables: the registry (grids, members, town areas), events reported by grid workers through the grid
apps, their photos, and patrols."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, UniqueConstraint
from sqlmodel import Field

from shared.models import UTCDateTime, service_base

GridTable, metadata = service_base("grid")


class GridBase(GridTable):  # type: ignore[misc,valid-type]
    name: str = Field(max_length=100)
    kind: str = Field(max_length=16, description="comprehensive | dedicated")
    dedicated_type: str | None = Field(default=None, max_length=32, description="school, market, factory ...")
    village_code: str = Field(max_length=16, index=True)
    town_code: str = Field(max_length=16, index=True)
    county_code: str = Field(max_length=16, index=True)


class Grid(GridBase, table=True):
    __tablename__ = "grid"

    code: str = Field(primary_key=True, max_length=32)
    polygon: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False), description="GeoJSON Polygon")


class GridMember(GridTable, table=True):  # type: ignore[misc,valid-type]
    __tablename__ = "grid_member"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    grid_code: str = Field(max_length=32, index=True)
    name: str = Field(max_length=50)
    role: str = Field(max_length=32, description="grid_leader | dedicated_leader | grid_worker | informant")
    phone: str = Field(max_length=20)


class TownArea(GridTable, table=True):  # type: ignore[misc,valid-type]
    """A town's area: grids must lie inside it and cover it."""

    __tablename__ = "grid_town_area"

    code: str = Field(primary_key=True, max_length=16)
    county_code: str = Field(max_length=16)
    polygon: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class GridEventBase(GridTable):  # type: ignore[misc,valid-type]
    category_code: str = Field(max_length=32)
    description: str
    lon: float
    lat: float
    grid_code: str | None = Field(default=None, max_length=20, index=True)
    village_code: str | None = Field(default=None, max_length=16)
    town_code: str | None = Field(default=None, max_length=16, index=True)
    county_code: str | None = Field(default=None, max_length=16)
    state: str = Field(max_length=24, description="see services/grid/domain/states.EventState")
    reporter_id: str = Field(max_length=64)


class GridEvent(GridEventBase, table=True):
    __tablename__ = "grid_event"
    __table_args__ = (UniqueConstraint("key_id", "client_id", name="uq_grid_event_client_id"),)

    id: str = Field(primary_key=True, max_length=64)
    incident_id: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reporter_name: str | None = Field(default=None, max_length=50)
    key_id: str | None = Field(default=None, max_length=12)
    client_id: str | None = Field(default=None, max_length=64, description="the app's own id for the item")
    located_by: str | None = Field(default=None, max_length=24)
    flagged: bool | None = Field(default=None, description="outside every grid: located to the nearest town")
    escalated: bool | None = Field(default=None, description="提级: a pending event sent up")
    photo_ids: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after_photo_ids: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    resolution_note: str | None = Field(default=None, max_length=2000)
    order_id: str | None = Field(default=None, max_length=64)
    order_number: str | None = Field(default=None, max_length=40)
    order_state: str | None = Field(default=None, max_length=24)
    order_version: int | None = Field(default=None, description="the order's version last applied (shared/projection)")
    change_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    reported_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Photo(GridTable, table=True):  # type: ignore[misc,valid-type]
    __tablename__ = "grid_photo"

    id: str = Field(primary_key=True, max_length=64, description="SHA-256 of the content")
    content_type: str = Field(max_length=32)
    size: int
    path: str = Field(max_length=200, description="relative to MCC_GRID_PHOTO_DIR")
    key_id: str | None = Field(default=None, max_length=12)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Patrol(GridTable, table=True):  # type: ignore[misc,valid-type]
    __tablename__ = "grid_patrol"

    id: str = Field(primary_key=True, max_length=64)
    key_id: str | None = Field(default=None, max_length=12)
    worker_id: str = Field(max_length=64, index=True)
    grid_code: str = Field(max_length=32, index=True)
    town_code: str = Field(max_length=16, index=True)
    county_code: str = Field(max_length=16)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    points: int = 0


class PatrolPoint(GridTable, table=True):  # type: ignore[misc,valid-type]
    __tablename__ = "grid_patrol_point"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    patrol_id: str = Field(max_length=64, index=True)
    lon: float
    lat: float
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Webhook(GridTable, table=True):  # type: ignore[misc,valid-type]
    """Where an integration key's event changes are pushed, signed with the key's webhook secret."""

    __tablename__ = "grid_webhook"

    key_id: str = Field(primary_key=True, max_length=12)
    url: str = Field(max_length=500)
    secret: str = Field(max_length=64)
    delivered_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    failures: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

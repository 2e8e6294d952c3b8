"""Intake's tables: every incident that came through the door, with where it was located; the Open311
requests city apps created; and a small projection of each incident's work-order status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field

from services.intake.service.read_models import IncidentBase
from shared.models import UTCDateTime, service_base

IntakeTable, metadata = service_base("intake")


class Incident(IncidentBase, IntakeTable, table=True):  # type: ignore[misc,valid-type]
    __tablename__ = "incident"

    id: str = Field(primary_key=True, max_length=64, description="the incident id from the channel")
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    accepted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False),
                                  description="when intake recorded it (accepted, held or rejected)")
    reviewed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # The normalised report, kept while a detection waits for review, so approving it needs no channel.
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Open311Request(IntakeTable, table=True):  # type: ignore[misc,valid-type]
    """A GeoReport service request as the city app sent it, minus the submitter's identity."""

    __tablename__ = "open311_request"

    service_request_id: str = Field(primary_key=True, max_length=32)
    incident_id: str = Field(max_length=64, unique=True)
    service_code: str = Field(max_length=32, index=True)
    description: str | None = Field(default=None, max_length=4000)
    address: str | None = Field(default=None, max_length=500)
    address_id: str | None = Field(default=None, max_length=100)
    lat: float | None = None
    long: float | None = None
    media_url: str | None = Field(default=None, max_length=2000)
    api_key_id: str = Field(max_length=12, description="the integration that created it")
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class OrderStatus(IntakeTable, table=True):  # type: ignore[misc,valid-type]
    """The latest work-order transition per incident, from dispatch's order events."""

    __tablename__ = "order_status"

    incident_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(max_length=64)
    order_number: str = Field(max_length=64)
    version: int
    state: str = Field(max_length=32)
    action: str = Field(max_length=32)
    unit_code: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=500)
    handle_deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class GridRegistrySnapshot(IntakeTable, table=True):  # type: ignore[misc,valid-type]
    """Intake's copy of grid's registry (what locating needs), so it locates with grid down or restarting."""

    __tablename__ = "grid_registry_snapshot"

    version: int = Field(primary_key=True, description="grid's registry version the snapshot was taken at")
    grid_count: int
    grids: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False),
                                        description="code, kind, village/town/county codes, GeoJSON polygon")
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OrgTreeSnapshot(IntakeTable, table=True):  # type: ignore[misc,valid-type]
    """Intake's copy of dispatch's organisation tree (unit names, address places), so a restart while dispatch
    is down still names units and places addresses."""

    __tablename__ = "org_tree_snapshot"

    version: int = Field(primary_key=True, description="dispatch's tree version the snapshot was taken at")
    unit_count: int
    units: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False),
                                        description="code, name, kind, parent_code, function of every unit")
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

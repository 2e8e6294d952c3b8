"""Dispatch's tables: work orders and their audit trail. The order row carries its deadlines, so the
database is the one source of truth for every timer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field

from shared.models import UTCDateTime, service_base

DispatchTable, metadata = service_base("dispatch")


class WorkOrderBase(DispatchTable):  # type: ignore[misc,valid-type]
    number: str = Field(max_length=32, unique=True, description="工单编号")
    incident_id: str = Field(max_length=64, unique=True)
    state: str = Field(max_length=32, index=True)
    version: int = Field(default=1)
    unit_code: str = Field(max_length=64, index=True, description="the unit holding the order")
    tier: str = Field(max_length=16)
    county_code: str | None = Field(default=None, max_length=16, index=True)
    town_code: str | None = Field(default=None, max_length=16, index=True)
    village_code: str | None = Field(default=None, max_length=16)
    grid_code: str | None = Field(default=None, max_length=20)
    category_code: str = Field(max_length=32)
    appeal_type: str = Field(max_length=16)
    urgency: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    source_ref: str = Field(max_length=64)
    title: str | None = Field(default=None, max_length=200)
    description: str
    address: str | None = Field(default=None, max_length=500)
    lon: float | None = None
    lat: float | None = None
    located_by: str = Field(max_length=16)
    confidential: bool = False


class WorkOrder(WorkOrderBase, table=True):
    __tablename__ = "work_order"

    id: str = Field(primary_key=True, max_length=64)
    caller: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sign_deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    handle_deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class OrderAudit(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """One row per transition: who, when, from, to, why; with the event that announced it."""

    __tablename__ = "order_audit"
    __table_args__ = (Index("ix_order_audit_order", "order_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64)
    event_id: str = Field(max_length=64, unique=True)
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str = Field(max_length=32)
    version: int
    actor: str = Field(max_length=100)
    unit_code: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

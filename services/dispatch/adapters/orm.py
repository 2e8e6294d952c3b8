"""Dispatch's tables: work orders and their audit trail. The order row carries its deadlines, so the
database is the one source of truth for every timer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field

from services.dispatch.service.read_models import WorkOrderBase
from shared.models import UTCDateTime, service_base

DispatchTable, metadata = service_base("dispatch")


class WorkOrder(WorkOrderBase, DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """The order row. `lifecycle` holds the whole domain state (clocks, steps taken, warnings given, the
    follow-up); the columns beside it mirror what queries, queues, rates and the timer poller filter on."""

    __tablename__ = "work_order"
    __table_args__ = (Index("ix_work_order_unit_state", "unit_code", "state"),
                      Index("ix_work_order_next_due", "next_due_at"))
    id: str = Field(primary_key=True, max_length=64)
    caller: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # [{id, content_type, size, kind, added_at, added_by}]: grid photos from intake, evidence attached on close;
    # the bytes are in the shared attachment store (shared/attachments.py).
    attachments: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sign_deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    handle_deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    assigned_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    dispatched_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    first_sign_deadline: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    first_unit_code: str | None = Field(default=None, max_length=64, index=True,
                                        description="the unit first dispatched to: the rates count it there")
    signed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    next_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    lifecycle: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


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
    actor_name: str | None = Field(default=None, max_length=100, description="the person's display name")
    actor_kind: str | None = Field(default=None, max_length=16, description="session (a person), script or system")
    unit_code: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OrgUnitRow(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """The organisation tree (city → county → town → village/community, and departments), editable."""

    __tablename__ = "org_unit"

    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, max_length=64, index=True)
    function: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OrderAccess(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """Every read of an order: who, in which role and unit, when, which order, through which view."""

    __tablename__ = "order_access"
    __table_args__ = (Index("ix_order_access_order", "order_id", "at"), Index("ix_order_access_at", "at"))

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64)
    order_number: str = Field(max_length=32)
    subject: str = Field(max_length=100)
    subject_name: str | None = Field(default=None, max_length=100, description="the reader's display name")
    subject_kind: str | None = Field(default=None, max_length=16, description="session (a person) or script")
    role: str = Field(max_length=32)
    unit_code: str | None = Field(default=None, max_length=64)
    view: str = Field(max_length=32)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DispositionDay(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """Hotline appeals per China-time day, disposition and county: the denominator of the direct-answer rate
    and the count of direct answers (直接答复), which never become orders."""

    __tablename__ = "appeal_disposition_day"

    day: str = Field(primary_key=True, max_length=10)
    disposition: str = Field(primary_key=True, max_length=16)
    county_code: str = Field(primary_key=True, max_length=16, description="'' when the county is unknown")
    count: int = 0


class IncidentBucket(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """Incidents per hour, town and category big class: the early-warning detector's counts."""

    __tablename__ = "incident_bucket"

    window_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    area_code: str = Field(primary_key=True, max_length=16)
    category_group: str = Field(primary_key=True, max_length=8)
    count: int = 0


class EarlyWarning(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """An alert raised by the detector; one per area, class and window (the primary key says so)."""

    __tablename__ = "early_warning"
    __table_args__ = (Index("ix_early_warning_raised", "raised_at"),)

    window_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    area_code: str = Field(primary_key=True, max_length=16)
    category_group: str = Field(primary_key=True, max_length=8)
    id: str = Field(max_length=64, unique=True)
    county_code: str | None = Field(default=None, max_length=16)
    count: int
    baseline: float
    p_value: float
    reason: str = Field(max_length=500)
    raised_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    acknowledged_by: str | None = Field(default=None, max_length=100)


class AccountRow(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """A person who signs in: one role in one unit. Only an Argon2 hash of the password is stored."""

    __tablename__ = "account"

    id: str = Field(primary_key=True, max_length=32)
    login: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=100)
    unit_code: str = Field(max_length=64, index=True)
    role: str = Field(max_length=32)
    active: bool = True
    password_hash: str = Field(max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AccountAudit(DispatchTable, table=True):  # type: ignore[misc,valid-type]
    """Sign-ins (failed ones too), sign-outs and every change to an account: who, whom, from where, when."""

    __tablename__ = "account_audit"
    __table_args__ = (Index("ix_account_audit_account", "account_id", "at"), Index("ix_account_audit_at", "at"))

    id: int | None = Field(default=None, primary_key=True)
    action: str = Field(max_length=32)
    account_id: str | None = Field(default=None, max_length=32)
    login: str | None = Field(default=None, max_length=64)
    actor_id: str | None = Field(default=None, max_length=100)
    actor_name: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

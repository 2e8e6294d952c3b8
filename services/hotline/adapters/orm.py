"""Hotline's tables. The caller's full phone number lives only here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, Index
from sqlmodel import Field

from shared.models import UTCDateTime, service_base

HotlineTable, metadata = service_base("hotline")


class AppealBase(HotlineTable):  # type: ignore[misc,valid-type]
    appeal_type: str = Field(max_length=16)
    category_code: str = Field(max_length=32)
    description: str
    address: str | None = Field(default=None, max_length=500)
    lon: float | None = None
    lat: float | None = None
    urgency: str | None = Field(default=None, max_length=16)
    confidential: bool = False
    anonymous: bool = False


class Appeal(AppealBase, table=True):
    __tablename__ = "appeal"
    # Duplicate search looks back by caller, and by category within a few cells around a point, within a
    # window: both reads are bounded by index, not by the number of appeals on file. History lists by caller.
    __table_args__ = (Index("ix_appeal_category_cell_created", "category_code", "cell", "created_at"),
                      Index("ix_appeal_caller_created", "caller_phone", "created_at"))

    id: str = Field(primary_key=True, max_length=64)
    number: str = Field(max_length=32, unique=True, description="受理编号")
    incident_id: str = Field(max_length=64, unique=True)
    caller_phone: str | None = Field(default=None, max_length=20)
    caller_name: str | None = Field(default=None, max_length=50)
    disposition: str = Field(max_length=24)
    status: str = Field(max_length=24, description="the order's state as last heard from dispatch")
    order_id: str | None = Field(default=None, max_length=64, index=True)
    order_number: str | None = Field(default=None, max_length=32, index=True)
    order_version: int = Field(default=0, description="the order's version last applied (stale events are skipped)")
    operator: str | None = Field(default=None, max_length=64)
    operator_name: str | None = Field(default=None, max_length=100, description="the operator's display name")
    operator_unit: str | None = Field(default=None, max_length=64)
    # Scope (受理范围): the record keeps which line an emergency went to, or why it was refused and where to.
    emergency_line: str | None = Field(default=None, max_length=8)
    scope_reason: str | None = Field(default=None, max_length=500)
    scope_channel: str | None = Field(default=None, max_length=200)
    scope_rule: str | None = Field(default=None, max_length=64)
    scope_decided_by: str | None = Field(default=None, max_length=16)
    # Direct answer (直接答复) from the knowledge base.
    answer_article_id: str | None = Field(default=None, max_length=64)
    answer_note: str | None = Field(default=None, max_length=2000)
    # Duplicates (重复件): a linked appeal names its master appeal; the master counts its linked appeals.
    master_number: str | None = Field(default=None, max_length=32, index=True)
    linked_count: int = 0
    cell: int | None = Field(default=None, description="duplicates.cell_of(lon, lat), set on write")
    county_code: str | None = Field(default=None, max_length=32)
    town_code: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class FollowUpCall(HotlineTable, table=True):  # type: ignore[misc,valid-type]
    """One follow-up call (回访) on an appeal whose order was closed."""

    __tablename__ = "followup_call"

    id: str = Field(primary_key=True, max_length=64)
    appeal_id: str = Field(max_length=64, index=True)
    order_id: str = Field(max_length=64, index=True)
    attempt: int
    reached: bool
    resolved: bool | None = None
    satisfaction: str | None = Field(default=None, max_length=24)
    unit_at_fault: bool | None = None
    comment: str | None = Field(default=None, max_length=2000)
    outcome: str = Field(max_length=16, description="archive, reopen or retry_call")
    operator: str = Field(max_length=64)
    operator_name: str | None = Field(default=None, max_length=100)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class KnowledgeArticleBase(HotlineTable):  # type: ignore[misc,valid-type]
    category_code: str | None = Field(default=None, max_length=32)
    title: str = Field(max_length=200)
    body: str
    valid_from: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    valid_to: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))


class KnowledgeArticle(KnowledgeArticleBase, table=True):
    """A knowledge-base (知识库) article an operator reads out to answer a consultation."""

    __tablename__ = "knowledge_article"

    id: str = Field(primary_key=True, max_length=64)
    answer_count: int = Field(default=0, description="how many appeals were answered directly from it")
    updated_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class OrgTreeSnapshot(HotlineTable, table=True):  # type: ignore[misc,valid-type]
    """Hotline's copy of dispatch's organisation tree (the console's unit names, address places), so a restart
    while dispatch is down still names units and places addresses."""

    __tablename__ = "org_tree_snapshot"

    version: int = Field(primary_key=True, description="dispatch's tree version the snapshot was taken at")
    unit_count: int
    units: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False),
                                        description="code, name, kind, parent_code, function of every unit")
    fetched_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

"""Event data models, contract version 1. Changing a field's meaning needs a v2 type, not an edit here.

Privacy is part of the contract: a caller's phone number only ever leaves the hotline masked
(138****1234), and a confidential appeal or any 举报 carries no caller at all.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MASKED_PHONE = re.compile(r"^\d{3,4}\*{4}\d{4}$|^\*+$")


class Channel(StrEnum):
    """Where an appeal came in (受理渠道)."""

    HOTLINE = "hotline"
    GRID = "grid"
    OPEN311 = "open311"
    DETECTION = "detection"


class AppealType(StrEnum):
    """诉求类型."""

    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报: caller identity never reaches handling units
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # life, property, water/power/gas/heating


class OrderState(StrEnum):
    """A work order's state, as dispatch's lifecycle names it (services/dispatch/domain/lifecycle/table.py).

    Part of the contract so that every consumer of order events reads one vocabulary, not its own copy.
    """

    ACCEPTED = "accepted"  # 受理: created, not yet sent anywhere
    QUEUED = "queued"  # 待派: in a county/city queue for a person to route
    DISPATCHED = "dispatched"  # 已派单: awaiting 签收
    SIGNED = "signed"  # 已签收
    IN_PROGRESS = "in_progress"  # 办理中
    RETURN_REQUESTED = "return_requested"  # 退单待仲裁: clocks paused
    CLOSED = "closed"  # 已办结: awaiting 回访
    FOLLOWED_UP = "followed_up"  # 已回访: archive, or reopen when the unit failed
    ARCHIVED = "archived"  # 已归档
    MERGED = "merged"  # 已并单 into a master order


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Coordinates(Contract):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class Location(Contract):
    """Where the incident is; codes filled in as far as they are known."""

    coordinates: Coordinates | None = None
    address: str | None = Field(None, max_length=500)
    grid_code: str | None = None
    village_code: str | None = None
    town_code: str | None = None
    county_code: str | None = None


class CallerRef(Contract):
    """The caller as handling units may see them: masked phone, optional name."""

    phone_masked: str = Field(pattern=MASKED_PHONE.pattern)
    name: str | None = Field(None, max_length=50)


class Detection(Contract):
    """A machine detection (remote sensing, sensors)."""

    detector: str = Field(min_length=1, max_length=100)
    confidence: float = Field(ge=0, le=1)
    evidence_url: str = Field(min_length=1, max_length=2000)


class Attachment(Contract):
    """A file that travels with an incident to its work order (a grid photo, a document): content-addressed in
    the shared attachment store (shared/attachments.py), so only its id, type and size travel."""

    id: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the bytes")
    content_type: str = Field(pattern=r"^(image/(jpeg|png|webp)|application/pdf)$")
    size: int = Field(ge=1)
    kind: str = Field("photo", pattern=r"^(photo|after_photo|document|evidence)$",
                      description="photo: of the problem; after_photo: after a fix; evidence: attached on close")


class Reporter(Contract):
    """A grid worker or integration that reported the incident."""

    id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, max_length=50)
    role: str | None = Field(None, max_length=32)


class IncidentReported(Contract):
    """An appeal or event from one channel, before intake normalises and locates it."""

    incident_id: str = Field(min_length=1, max_length=64, description="stable id across redeliveries")
    channel: Channel
    source_ref: str = Field(min_length=1, max_length=64, description="the record's id in its channel")
    appeal_type: AppealType = AppealType.HELP
    category_code: str = Field(min_length=1, max_length=32)
    title: str | None = Field(None, max_length=200)
    description: str = Field(min_length=1, max_length=10_000)
    urgency: Urgency | None = None
    location: Location
    caller: CallerRef | None = None
    confidential: bool = False
    reporter: Reporter | None = None
    detection: Detection | None = None
    # Added in v1 (optional, so older messages still parse): files for the unit that handles the order.
    attachments: tuple[Attachment, ...] = Field((), max_length=20)
    reported_at: datetime

    @model_validator(mode="after")
    def _hide_protected_callers(self) -> IncidentReported:
        if self.caller is not None and (self.confidential or self.appeal_type is AppealType.REPORT):
            raise ValueError("a confidential appeal or a 举报 must not carry the caller")
        return self


class LocatedBy(StrEnum):
    GRID = "grid"  # the channel already knew the grid
    COORDINATES = "coordinates"  # point in a grid polygon
    NEAREST_TOWN = "nearest_town"  # point outside every grid: flagged
    ADDRESS = "address"  # address text matched a place name
    UNLOCATED = "unlocated"  # nothing matched: the county or city routes it by hand


class IncidentAccepted(Contract):
    """Intake's normalised, located incident: what dispatch turns into a work order."""

    incident_id: str = Field(min_length=1, max_length=64)
    channel: Channel
    source_ref: str = Field(min_length=1, max_length=64)
    appeal_type: AppealType
    category_code: str = Field(min_length=1, max_length=32)
    title: str | None = Field(None, max_length=200)
    description: str = Field(min_length=1, max_length=10_000)
    urgency: Urgency
    location: Location
    located_by: LocatedBy
    caller: CallerRef | None = None
    confidential: bool = False
    reporter: Reporter | None = None
    detection: Detection | None = None
    # Added in v1 (optional, so older messages still parse): files for the unit that handles the order.
    attachments: tuple[Attachment, ...] = Field((), max_length=20)
    reported_at: datetime
    accepted_at: datetime

    @model_validator(mode="after")
    def _hide_protected_callers(self) -> IncidentAccepted:
        if self.caller is not None and (self.confidential or self.appeal_type is AppealType.REPORT):
            raise ValueError("a confidential appeal or a 举报 must not carry the caller")
        return self


class IncidentHeldForReview(Contract):
    """An incident parked for a person to confirm instead of being dispatched: a low-confidence machine
    detection, or a report whose point lies outside the city (`reason` says which)."""

    incident_id: str
    detection: Detection | None = None
    category_code: str
    location: Location
    reason: str


class OrderChanged(Contract):
    """One transition of a work order. Every order event type carries this shape."""

    order_id: str
    order_number: str
    incident_id: str
    action: str = Field(description="the lifecycle action taken, e.g. dispatch, sign, escalate")
    from_state: OrderState | None
    to_state: OrderState
    version: int = Field(ge=1, description="the order's version after this transition")
    unit_code: str | None = Field(None, description="the unit that holds the order after the transition")
    tier: str | None = Field(None, description="town, county or city")
    county_code: str | None = None
    town_code: str | None = None
    category_code: str
    appeal_type: AppealType
    channel: Channel
    source_ref: str
    actor: str = Field(description="who acted: a user id, or system:<component>")
    actor_name: str | None = Field(None, description="the signed-in person's display name, if a person acted")
    reason: str | None = None
    sign_deadline: datetime | None = None
    handle_deadline: datetime | None = None
    occurred_at: datetime
    details: dict[str, Any] = Field(default_factory=dict)


class FollowUpRecorded(Contract):
    """The hotline's follow-up call (回访) on a closed order."""

    order_id: str
    followup_id: str
    reached: bool
    resolved: bool | None = None
    satisfaction: str | None = Field(None, pattern="^(satisfied|basically_satisfied|dissatisfied)$")
    unit_at_fault: bool | None = None
    comment: str | None = Field(None, max_length=2000)
    operator: str
    operator_name: str | None = Field(None, description="the operator's display name, when a person signed in")
    operator_kind: str | None = Field(None, description="session (a signed-in person) or script")
    recorded_at: datetime
    # Added in v1 (optional, so older messages still parse): the hotline's conclusion. `archive` on an
    # unreached call means the caller could not be reached after the configured attempts (archive unrated).
    outcome: str | None = Field(None, pattern="^(archive|reopen|retry_call)$")


class DeadLettered(Contract):
    """A message a consumer gave up on, kept with why."""

    stream: str
    consumer: str
    subject: str
    stream_seq: int | None = None
    deliveries: int
    reason: str
    payload: str = Field(description="the original message body, decoded as UTF-8 with replacement")
    headers: dict[str, str] = Field(default_factory=dict)
    failed_at: datetime


# hotline


class AppealDisposition(StrEnum):
    """What happened to a hotline appeal after the call."""

    DISPATCHED = "dispatched"  # 派单: a work order follows (IncidentReported)
    ANSWERED = "answered"  # 直接答复 from the knowledge base, closed without dispatch
    EMERGENCY = "emergency"  # handed to 110/119/120/122
    OUT_OF_SCOPE = "out_of_scope"  # 不予受理, with the right channel
    LINKED = "linked"  # 重复件: linked to an existing order, not dispatched again


class AppealDisposed(Contract):
    """Every hotline appeal's disposition, so dispatch and the metrics can count direct answers and
    duplicates next to orders. Carries no caller identity at all."""

    appeal_number: str = Field(min_length=1, max_length=32)
    disposition: AppealDisposition
    appeal_type: AppealType
    category_code: str = Field(min_length=1, max_length=32)
    county_code: str | None = None
    town_code: str | None = None
    emergency_line: str | None = Field(None, pattern="^(110|119|120|122)$")
    linked_order_number: str | None = Field(None, max_length=32)
    linked_appeal_number: str | None = Field(None, max_length=32, description="the master appeal, for links")
    occurred_at: datetime


# dispatch: early warning


class EarlyWarningRaised(Contract):
    """预警: an unusual number of incidents of one category group in one town within one window."""

    alert_id: str
    area_code: str = Field(description="the town (or county when the town is unknown)")
    county_code: str | None = None
    category_group: str = Field(description="the category's big class (2 digits)")
    window_start: datetime
    window_end: datetime
    count: int = Field(ge=0)
    baseline: float = Field(ge=0, description="the usual count per window")
    p_value: float = Field(ge=0, le=1)
    reason: str
    raised_at: datetime


# dispatch: accounts


class AccountChanged(Contract):
    """An account was created or changed (disabled, enabled, moved, given a role, a new password). Never
    carries the password or its hash."""

    account_id: str
    action: str = Field(description="created, disabled, enabled, moved, role_changed, renamed, password_reset")
    login: str
    display_name: str
    unit_code: str
    role: str
    active: bool
    actor: str = Field(description="the account id (or script subject) of whoever made the change")
    actor_name: str | None = None
    occurred_at: datetime

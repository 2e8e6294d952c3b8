"""Every stream, subject and event type in one place. Streams are created idempotently at start-up.

Subjects are `mcc.<area>.<event>`; event types are `cn.mcc.<area>.<event>.v<N>`. A consumer that needs a
new version subscribes to the new type's subject; old producers keep working until they are retired.

Incident and order events are partitioned by county: they are published on `mcc.<area>.<event>.<county>`
(`mcc.incident.accepted.320612`, `mcc.order.dispatched.320612`), `_none` when the county is not known, so a
consumer group can be pinned to some counties by its filter subjects (`EventSpec.filters`). The county is
read from the event's own data (`EventSpec.partition`), never passed beside it, so subject and data cannot
disagree; an order's county is where its incident lies and never changes, so all of one order's events share
one subject per type and a pinned group sees every one of them, in stream order. Messages published before
partitioning (on the bare `mcc.incident.accepted`) are still read by the default filters and by `_none`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from shared.events import v1


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_days: int = 30
    # Publish dedup on Nats-Msg-Id holds within this window; the outbox retries well inside it and
    # consumers are idempotent by event id besides, so a late duplicate still has no second effect.
    duplicate_window_s: int = 2 * 3600
    allow_msg_schedules: bool = False


# The county token of an event whose county is not known (outside the city, not located): never a county code.
NO_COUNTY = "_none"


def county_token(county_code: str | None) -> str:
    """The subject token for a county code: the code itself (digits), `_none` without one. A character NATS
    gives meaning to in a subject (`.`, `*`, `>`, spaces) is replaced, so a strange code cannot split it."""
    if not county_code:
        return NO_COUNTY
    return re.sub(r"[^A-Za-z0-9_-]", "_", county_code)


@dataclass(frozen=True)
class EventSpec:
    type: str
    subject: str  # the type's subject; a partitioned type is published one token deeper (`subject_for`)
    data_model: type[BaseModel]
    description: str = ""
    stream: str = field(default="")
    # For a type partitioned by county: reads the county code from the event data.
    partition: Callable[[Any], str | None] | None = field(default=None, compare=False)

    @property
    def wildcard(self) -> str:
        """The subjects this type is published on now: `mcc.order.dispatched.*` for a partitioned type."""
        return f"{self.subject}.*" if self.partition else self.subject

    def subject_for(self, data: BaseModel) -> str:
        """The subject one event of this type is published on."""
        if self.partition is None:
            return self.subject
        return f"{self.subject}.{county_token(self.partition(data))}"

    def filters(self, counties: Sequence[str] | None = None) -> tuple[str, ...]:
        """Filter subjects for a consumer of this type: every county (and messages from before partitioning)
        when `counties` is None, else only the given counties' (`_none` takes the unpartitioned ones too)."""
        if self.partition is None:
            return (self.subject,)
        if counties is None:
            return (self.subject, self.wildcard)
        tokens = list(dict.fromkeys(county_token(c) for c in counties))
        if not tokens:
            raise ValueError("a consumer pinned to counties needs at least one county")
        legacy = (self.subject,) if NO_COUNTY in tokens else ()
        return legacy + tuple(f"{self.subject}.{t}" for t in tokens)


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec("MCC_INTAKE", ("mcc.intake.>",)),
    StreamSpec("MCC_INCIDENTS", ("mcc.incident.>",)),
    StreamSpec("MCC_ORDERS", ("mcc.order.>",), max_age_days=400),
    StreamSpec("MCC_GRID", ("mcc.grid.>",)),
    StreamSpec("MCC_HOTLINE", ("mcc.hotline.>",)),
    StreamSpec("MCC_ALERTS", ("mcc.alert.>",)),
    StreamSpec("MCC_ACCOUNTS", ("mcc.account.>",), max_age_days=400),
    StreamSpec("MCC_DLQ", ("mcc.dlq.>",), max_age_days=90),
)

DEAD_LETTER_PREFIX = "mcc.dlq"


def dead_letter_subject(stream: str, consumer: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{stream.lower()}.{consumer}"


def _spec(area: str, event: str, model: type[BaseModel], description: str, version: int = 1,
          partition: Callable[[Any], str | None] | None = None) -> EventSpec:
    subject = f"mcc.{area}.{event}"
    stream = next(s.name for s in STREAMS if any(matches(p, subject) for p in s.subjects))
    return EventSpec(f"cn.mcc.{area}.{event}.v{version}", subject, model, description, stream, partition)


def _incident_county(data: Any) -> str | None:
    return data.location.county_code  # type: ignore[no-any-return]


def _order_county(data: Any) -> str | None:
    # The county where the order's incident lies, set when the order is made and never changed: a
    # reassignment or an escalation to a city unit keeps the order on its county's subjects.
    return data.county_code  # type: ignore[no-any-return]


def matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject pattern (`*` one token, `>` the rest) matches a subject."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


INCIDENT_REPORTED = _spec("intake", "reported", v1.IncidentReported, "a channel reported an incident")
INCIDENT_ACCEPTED = _spec("incident", "accepted", v1.IncidentAccepted, "intake normalised and located it",
                          partition=_incident_county)
INCIDENT_HELD = _spec("incident", "held", v1.IncidentHeldForReview,
                      "held for review: a low-confidence detection or a point outside the city",
                      partition=_incident_county)
FOLLOWUP_RECORDED = _spec("hotline", "followup_recorded", v1.FollowUpRecorded, "回访 recorded")
DEAD_LETTERED = _spec("dlq", "dead_lettered", v1.DeadLettered, "a message a consumer gave up on")

# One subject per order event type; all carry OrderChanged.
ORDER_EVENT_NAMES: tuple[str, ...] = (
    "dispatched",  # 派单
    "signed",  # 签收
    "started",  # 办理
    "returned",  # 退单
    "return_approved",  # 退单仲裁: accepted, re-dispatched
    "return_rejected",  # 退单仲裁: refused, back to the unit
    "extension_requested",  # 延期申请
    "extended",  # 延期 approved
    "extension_refused",
    "urged",  # 催办
    "supervised",  # 督办
    "escalated",  # 提级
    "warned",  # yellow / red deadline warning
    "closed",  # 办结
    "followed_up",  # 回访
    "reopened",  # 重办
    "archived",  # 归档
    "merged",  # 并单
    "reassigned",  # 改派
    "queued",  # to the county queue for a person to route (属地兜底)
)
ORDER_EVENTS: dict[str, EventSpec] = {
    name: _spec("order", name, v1.OrderChanged, f"work order {name}", partition=_order_county)
    for name in ORDER_EVENT_NAMES
}

EVENTS: tuple[EventSpec, ...] = (
    INCIDENT_REPORTED,
    INCIDENT_ACCEPTED,
    INCIDENT_HELD,
    FOLLOWUP_RECORDED,
    *ORDER_EVENTS.values(),
)
EVENTS_BY_TYPE: dict[str, EventSpec] = {e.type: e for e in EVENTS}
EVENTS_BY_SUBJECT: dict[str, EventSpec] = {e.subject: e for e in EVENTS}


def register(spec: EventSpec) -> EventSpec:
    """Add an event type declared by a later contract module (kept here so lookups stay in one place)."""
    if spec.type in EVENTS_BY_TYPE and EVENTS_BY_TYPE[spec.type] != spec:
        raise ValueError(f"event type {spec.type} declared twice")
    EVENTS_BY_TYPE[spec.type] = spec
    EVENTS_BY_SUBJECT[spec.subject] = spec
    return spec


def new_spec(area: str, event: str, model: type[BaseModel], description: str, version: int = 1) -> EventSpec:
    """Declare and register another event type."""
    return register(_spec(area, event, model, description, version))


# hotline
APPEAL_DISPOSED = new_spec("hotline", "appeal_disposed", v1.AppealDisposed,
                           "what happened to a hotline appeal: dispatched, answered, emergency, out_of_scope, linked")


# dispatch: early warning
EARLY_WARNING_RAISED = new_spec("alert", "early_warning", v1.EarlyWarningRaised,
                                "预警: an unusual count of incidents in one town and category group")


# dispatch: accounts
ACCOUNT_CHANGED = new_spec("account", "changed", v1.AccountChanged,
                           "an account was created, disabled, moved, given a role or a new password")

"""Every stream, subject and event type in one place. Streams are created idempotently at start-up.

Subjects are `mcc.<area>.<event>`; event types are `cn.mcc.<area>.<event>.v<N>`. A consumer that needs a
new version subscribes to the new type's subject; old producers keep working until they are retired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class EventSpec:
    type: str
    subject: str
    data_model: type[BaseModel]
    description: str = ""
    stream: str = field(default="")


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


def _spec(area: str, event: str, model: type[BaseModel], description: str, version: int = 1) -> EventSpec:
    subject = f"mcc.{area}.{event}"
    stream = next(s.name for s in STREAMS if any(_matches(p, subject) for p in s.subjects))
    return EventSpec(f"cn.mcc.{area}.{event}.v{version}", subject, model, description, stream)


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


INCIDENT_REPORTED = _spec("intake", "reported", v1.IncidentReported, "a channel reported an incident")
INCIDENT_ACCEPTED = _spec("incident", "accepted", v1.IncidentAccepted, "intake normalised and located it")
INCIDENT_HELD = _spec("incident", "held", v1.IncidentHeldForReview, "held for review: a low-confidence detection or a point outside the city")
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
    name: _spec("order", name, v1.OrderChanged, f"work order {name}") for name in ORDER_EVENT_NAMES
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

"""The order as the lifecycle sees it, the actor, and the decision a transition produces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.dispatch.domain.lifecycle.table import (
    OPEN_STATES,
    Action,
)
from services.dispatch.domain.org import Tier
from services.dispatch.domain.sla import Clock, Duration, WarningLevel
from services.dispatch.domain.visibility import SYSTEM
from shared.events.v1 import OrderState  # the contract's vocabulary: consumers read the same names


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


@dataclass(frozen=True)
class FollowUp:
    """The 回访 result: the caller's rating, whether the matter was resolved, whether the unit was at fault."""

    satisfaction: Satisfaction
    resolved: bool | None = None
    unit_at_fault: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "satisfaction", Satisfaction(self.satisfaction))


@dataclass(frozen=True)
class StepMark:
    """An escalation-chain step taken on an order, for the deadline it was taken for (keeps timers idempotent)."""

    step: str
    deadline: datetime | None
    at: datetime


@dataclass(frozen=True)
class DeadlineWarning:
    clock: str  # sign | handle
    level: WarningLevel


@dataclass(frozen=True)
class WarningMark:
    clock: str
    level: WarningLevel
    deadline: datetime


@dataclass(frozen=True)
class Order:
    """What the lifecycle needs to know about a work order. The service maps its row to this and back."""

    id: str
    state: OrderState
    unit_code: str | None = None  # the unit holding the order (a queue's centre while queued)
    tier: Tier | None = None
    assigned_at: datetime | None = None  # when the holder received it: return window, warning start
    sign: Clock = Clock()
    handle: Clock = Clock()
    paused_state: OrderState | None = None
    paused_at: datetime | None = None
    extension_requested: Duration | None = None  # a pending 延期 request
    extension_granted: float = 0.0  # in the unit of SlaSettings.extension_max, all approvals together
    follow_up: FollowUp | None = None
    merged_into: str | None = None
    supervised: bool = False
    urge_count: int = 0
    reopen_count: int = 0
    escalation_count: int = 0
    signed_at: datetime | None = None
    closed_at: datetime | None = None
    steps: tuple[StepMark, ...] = ()
    warnings: tuple[WarningMark, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", OrderState(self.state))
        if self.paused_state is not None:
            object.__setattr__(self, "paused_state", OrderState(self.paused_state))

    @property
    def sign_deadline(self) -> datetime | None:
        return self.sign.deadline

    @property
    def handle_deadline(self) -> datetime | None:
        return self.handle.deadline

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def extension_pending(self) -> bool:
        return self.extension_requested is not None


@dataclass(frozen=True)
class Actor:
    """Who acts: a user's role and unit, or the system (timers, consumers)."""

    subject: str
    role: str  # a Role value, or SYSTEM
    unit_code: str | None = None
    name: str | None = None  # a person's display name, for the audit trail
    kind: str = "system"  # "session": a signed-in person; "script": a minted token; "system"

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls(f"system:{component}", SYSTEM)

    @classmethod
    def of(cls, principal: Any) -> Actor:
        """The actor for an authenticated principal (shared.auth.Principal); a token without a display name is
        recorded under its subject, so every audit row names the person."""
        return cls(principal.subject, str(principal.role), principal.unit_code,
                   getattr(principal, "name", None) or principal.subject, getattr(principal, "kind", "script"))

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM


@dataclass(frozen=True)
class Decision:
    """The outcome of one allowed transition: apply `order`, emit `event`, write the audit row."""

    action: Action
    event: str
    before: Order
    order: Order
    actor: Actor
    at: datetime
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def from_state(self) -> OrderState:
        return self.before.state

    @property
    def to_state(self) -> OrderState:
        return self.order.state

    def changed(self) -> dict[str, Any]:
        """The order fields this transition changed, with their new values."""
        return {f.name: getattr(self.order, f.name) for f in fields(Order)
                if getattr(self.order, f.name) != getattr(self.before, f.name)}

"""The work-order lifecycle as one state machine: `TRANSITIONS` (table.py) is the only list of what may happen.

    accepted     ─dispatch→ dispatched | ─queue→ queued | ─merge→ merged
    queued       ─route→ dispatched
    dispatched   ─sign→ signed | ─return→ return_requested
    signed       ─start→ in_progress | ─close→ closed | ─return→ return_requested
    in_progress  ─close→ closed
    return_requested ─approve_return→ queued (the arbiter's) | ─reject_return→ the state it paused in
    closed       ─follow_up→ followed_up | ─archive→ archived (no follow-up possible)
    followed_up  ─archive→ archived | ─reopen→ dispatched (dissatisfied and the unit at fault)
    dispatched, signed, in_progress ─escalate / reassign→ dispatched (another unit, which must sign)
    queued, dispatched, signed, in_progress ─merge→ merged (into an open master)

Self-transitions keep the state: urge (催办), supervise (督办), warn (yellow/red), request/approve/refuse
extension (延期). Escalate (提级) and reassign (改派) move the order to another unit, which must sign for it.

Why a pending extension is a flag and not a state: the unit keeps working while the upper tier decides, and
everything else (close, escalate, urge) stays possible; a state would double every working state and hide
the real one. `Order.extension_requested` carries the request; the table still lists the actions, and
`allowed_actions` offers approve/refuse only while a request is pending.

Why `queued` and `accepted`: `queued` is the county's (or city's) manual-routing queue (属地兜底) and the
arbiter's desk after an approved return; `accepted` is an order that exists but has not been sent anywhere
yet, so creation is a transition in the table like every other. `followed_up` keeps the rating on record
before the separate decision to archive or reopen (重办), so that decision is a transition of its own.

The clock pauses while a return awaits arbitration (`return_requested`): both clocks freeze their remaining
time and restart from it if the return is rejected; an approved return clears them (the next dispatch sets
new ones).

`decide` is pure: it checks visibility (OrderNotVisible → 404), the table (ForbiddenTransition → 409 with the
current state and allowed actions), role and relation (NotPermitted → 403), the rules that depend on time or
inputs (RuleViolated → 409, InvalidCommand → 422), and returns a Decision: the order after the transition, the
event name (shared.events.catalog.ORDER_EVENT_NAMES), and the audit reason and details.

The package: `table.py` (actions, the transition table), `order.py` (the order, the actor, the decision),
`errors.py` (refusals), `scope.py` (visibility and allowed actions), `decide.py` (one transition).
"""

from __future__ import annotations

from services.dispatch.domain.lifecycle.decide import Outcome, decide
from services.dispatch.domain.lifecycle.errors import (
    ForbiddenTransition,
    InvalidCommand,
    LifecycleError,
    NotPermitted,
    OrderNotVisible,
    RuleViolated,
)
from services.dispatch.domain.lifecycle.order import (
    Actor,
    DeadlineWarning,
    Decision,
    FollowUp,
    Order,
    Satisfaction,
    StepMark,
    WarningMark,
)
from services.dispatch.domain.lifecycle.scope import allowed_actions, can_act
from services.dispatch.domain.lifecycle.table import (
    HANDLING_STATES,
    HOLDERS,
    OPEN_STATES,
    SUPERIORS,
    TRANSITIONS,
    Action,
    Relation,
    Transition,
)
from shared.events.v1 import OrderState  # the contract's vocabulary, which the lifecycle's users also read

__all__ = [
    "Action", "Actor", "DeadlineWarning", "Decision", "FollowUp", "ForbiddenTransition",
    "HANDLING_STATES", "HOLDERS", "InvalidCommand", "LifecycleError", "NotPermitted", "OPEN_STATES",
    "Order", "OrderNotVisible", "OrderState", "Outcome", "Relation", "RuleViolated", "SUPERIORS",
    "Satisfaction", "StepMark", "TRANSITIONS", "Transition", "WarningMark", "allowed_actions", "can_act",
    "decide",
]

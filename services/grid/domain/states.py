"""A grid event's states and the transitions allowed between them (pure: no I/O).

At the grid a worker either fixes the matter on the spot (就地解决: closed with an after photo, never sent to
dispatch), reports it up at once (上报), or keeps it pending while trying; a pending event is later resolved on
the spot or escalated (提级: reported up, marked escalated). Once up, the event follows its work order's state
as dispatch announces it (派单, 签收, 办理, 办结, 归档), including a reopen (重办) after closing.
"""

from __future__ import annotations

from enum import StrEnum

from shared.events.v1 import OrderState


class EventState(StrEnum):
    PENDING = "pending"  # held at the grid, not yet reported up
    RESOLVED_ON_SPOT = "resolved_on_spot"  # 就地解决: closed at the grid, with evidence
    REPORTED = "reported"  # 上报: sent to intake
    ESCALATED = "escalated"  # 提级: a pending event sent up
    DISPATCHED = "dispatched"  # a work order went to a unit
    SIGNED = "signed"  # the unit signed for it
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"  # the unit closed the order
    ARCHIVED = "archived"


class Handling(StrEnum):
    """What the worker chose when creating the event."""

    REPORT = "report"
    RESOLVED_ON_SPOT = "resolved_on_spot"
    PENDING = "pending"


INITIAL: dict[Handling, EventState] = {
    Handling.REPORT: EventState.REPORTED,
    Handling.RESOLVED_ON_SPOT: EventState.RESOLVED_ON_SPOT,
    Handling.PENDING: EventState.PENDING,
}

# The whole table: from a state, the states it may move to. Anything else is refused.
ALLOWED: dict[EventState, frozenset[EventState]] = {
    EventState.PENDING: frozenset({EventState.RESOLVED_ON_SPOT, EventState.ESCALATED}),
    EventState.RESOLVED_ON_SPOT: frozenset(),
    EventState.REPORTED: frozenset({EventState.DISPATCHED, EventState.SIGNED, EventState.IN_PROGRESS,
                                    EventState.CLOSED}),
    EventState.ESCALATED: frozenset({EventState.DISPATCHED, EventState.SIGNED, EventState.IN_PROGRESS,
                                     EventState.CLOSED}),
    EventState.DISPATCHED: frozenset({EventState.SIGNED, EventState.IN_PROGRESS, EventState.CLOSED}),
    EventState.SIGNED: frozenset({EventState.IN_PROGRESS, EventState.CLOSED, EventState.DISPATCHED}),
    EventState.IN_PROGRESS: frozenset({EventState.CLOSED, EventState.DISPATCHED, EventState.SIGNED}),
    EventState.CLOSED: frozenset({EventState.ARCHIVED, EventState.DISPATCHED, EventState.SIGNED,
                                  EventState.IN_PROGRESS}),  # 重办 reopens
    EventState.ARCHIVED: frozenset(),
}

# Dispatch's order states (the contract's OrderState) as the grid app sees them.
# Order states not listed (accepted, queued, return_requested, merged ...) leave the event where it is.
FROM_ORDER_STATE: dict[OrderState, EventState] = {
    OrderState.DISPATCHED: EventState.DISPATCHED,
    OrderState.SIGNED: EventState.SIGNED,
    OrderState.IN_PROGRESS: EventState.IN_PROGRESS,
    OrderState.CLOSED: EventState.CLOSED,
    OrderState.FOLLOWED_UP: EventState.CLOSED,
    OrderState.ARCHIVED: EventState.ARCHIVED,
}


class TransitionRefused(Exception):
    def __init__(self, current: EventState, target: EventState) -> None:
        allowed = ", ".join(sorted(ALLOWED[current])) or "nothing (final)"
        super().__init__(f"an event that is {current.value} cannot become {target.value}; allowed: {allowed}")
        self.current, self.target = current, target


def can(current: EventState, target: EventState) -> bool:
    return target in ALLOWED[current]


def transition(current: EventState, target: EventState) -> EventState:
    """The new state, or TransitionRefused."""
    if not can(current, target):
        raise TransitionRefused(current, target)
    return target


def follow_order(current: EventState, order_state: OrderState) -> EventState:
    """The event's state after its order moved to `order_state` (unchanged when that means nothing new)."""
    target = FROM_ORDER_STATE.get(order_state)
    if target is None or target == current or not can(current, target):
        return current
    return target

"""The order-status projection's one rule: which order event a consumer applies, and which it skips.

Grid, hotline and intake each keep their own copy of a work order's state, fed by dispatch's order events.
Consumers nak with delays and NATS redelivers, so an older transition can arrive after a newer one (a late
`signed` after `closed`); applied, it would roll the status back. Every projection asks `supersedes` first.
The state names come from the contract (`shared.events.v1.OrderState`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.events.v1 import OrderChanged, OrderState

__all__ = ["Applied", "OrderState", "supersedes"]


@dataclass(frozen=True)
class Applied:
    """What a projection last applied for one incident: the order, its version, and when it happened."""

    order_id: str | None
    version: int
    occurred_at: datetime | None = None


def supersedes(change: OrderChanged, applied: Applied | None) -> bool:
    """True when `change` is newer than what the projection holds; a stale or repeated event is not.

    Within one order the version decides (dispatch raises it with every transition). A different order for
    the same incident (which dispatch does not make today) is newer when it happened no earlier than what is
    held, or when the projection never recorded that time.
    """
    if applied is None or applied.order_id is None:
        return True
    if change.order_id == applied.order_id:
        return change.version > applied.version
    return applied.occurred_at is None or change.occurred_at >= applied.occurred_at

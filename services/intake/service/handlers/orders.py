"""The order-status projection: the latest work-order transition per incident, for Open311 status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.intake.adapters.uow import IntakeUnitOfWork
from services.intake.service.handlers.common import CONSUMER_ORDERS
from shared.events.envelope import CloudEvent
from shared.events.v1 import OrderChanged
from shared.projection import Applied, supersedes


async def handle_order_changed(event: CloudEvent[Any], *, uow: IntakeUnitOfWork) -> None:
    """Keep the latest transition of one incident's order (out-of-order safe)."""
    await handle_orders_changed([event], uow=uow)


async def handle_orders_changed(events: Sequence[CloudEvent[Any]], *, uow: IntakeUnitOfWork) -> None:
    """Keep the latest transition of each incident's order for a batch of order events, in one transaction
    (each event once, whatever NATS redelivers; an older transition never overwrites a newer one)."""
    async with uow:
        first = await uow.first_deliveries(consumer=CONSUMER_ORDERS, event_ids=[e.id for e in events])
        changes: list[OrderChanged] = [e.data for e in events if e.id in first]
        # Plain values, not ORM objects: a batch's rows are read in one query and written in two statements.
        rows = await uow.order_statuses.of({c.incident_id for c in changes})
        held = set(rows)
        touched: set[str] = set()
        for change in changes:
            row = rows.get(change.incident_id)
            if row is None:
                row = rows[change.incident_id] = {"incident_id": change.incident_id, "unit_code": None,
                                                  "handle_deadline": None}
            elif not supersedes(change, Applied(row["order_id"], row["version"], row["updated_at"])):
                continue
            row.update(order_id=change.order_id, order_number=change.order_number, version=change.version,
                       state=change.to_state.value, action=change.action, updated_at=change.occurred_at,
                       unit_code=change.unit_code or row["unit_code"],
                       reason=change.reason[:500] if change.reason else None)
            if change.handle_deadline is not None:
                row["handle_deadline"] = change.handle_deadline
            touched.add(change.incident_id)
        await uow.order_statuses.write(new=[rows[i] for i in sorted(touched - held)],
                                       changed=[rows[i] for i in sorted(touched & held)])
        await uow.commit()

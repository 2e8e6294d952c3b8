"""Work-order events keep a reported grid event's status current (shared/projection's one version rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from services.grid.adapters import repository as repo
from services.grid.adapters.orm import GridEvent
from services.grid.domain.states import EventState, follow_order
from services.grid.service.handlers.common import CHANGE_COUNTER, CONSUMER_ORDERS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import Channel, OrderChanged
from shared.projection import Applied, supersedes
from shared.uow import UnitOfWork


async def handle_order_changed(event: CloudEvent[Any], *, uow: UnitOfWork) -> None:
    """Keep a reported event's status in step with its work order, for the grid app to read."""
    await handle_orders_changed([event], uow=uow)


async def handle_orders_changed(events: Sequence[CloudEvent[Any]], *, uow: UnitOfWork) -> None:
    """Apply a batch of order events to the grid events they concern, in one transaction (each once,
    whatever NATS redelivers; an older transition never rolls a status back).

    Another channel's order (a hotline appeal's, most of them) is nothing of grid's: it is passed over
    without a transaction or an inbox row, since applying nothing twice has no effect either."""
    mine = [e for e in events if e.data.channel == Channel.GRID]
    if not mine:
        return
    async with uow:
        first = await uow.first_deliveries(consumer=CONSUMER_ORDERS, event_ids=[e.id for e in mine])
        fresh = [e for e in mine if e.id in first]
        wanted = sorted({e.data.source_ref for e in fresh})
        rows = {r.id: r for r in (await uow.session.execute(
            select(GridEvent).where(GridEvent.id.in_(wanted)))).scalars()} if wanted else {}
        for event in fresh:
            if event.id not in first:
                continue  # the same event twice in one batch applies once
            first.discard(event.id)
            change: OrderChanged = event.data
            grid_event = rows.get(change.source_ref)
            if grid_event is None:
                continue
            applied = Applied(grid_event.order_id, grid_event.order_version or 0) if grid_event.order_id else None
            if not supersedes(change, applied):
                continue  # an older transition arriving late must not roll the status back
            grid_event.order_id, grid_event.order_version = change.order_id, change.version
            grid_event.order_number = change.order_number
            grid_event.order_state = change.to_state.value
            grid_event.state = follow_order(EventState(grid_event.state), change.to_state).value
            grid_event.updated_at = utcnow()
            grid_event.change_seq = await repo.bump(uow.session, CHANGE_COUNTER)
        await uow.commit()

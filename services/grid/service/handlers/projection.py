"""Work-order events keep a reported grid event's status current (shared/projection's one version rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.grid.adapters.uow import GridUnitOfWork
from services.grid.domain.states import EventState, follow_order
from services.grid.service.handlers.common import CONSUMER_ORDERS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import Channel, OrderChanged
from shared.projection import Applied, supersedes


async def handle_order_changed(event: CloudEvent[Any], *, uow: GridUnitOfWork) -> None:
    """Keep a reported event's status in step with its work order, for the grid app to read."""
    await handle_orders_changed([event], uow=uow)


async def handle_orders_changed(events: Sequence[CloudEvent[Any]], *, uow: GridUnitOfWork) -> None:
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
        rows = await uow.grid_events.by_ids(e.data.source_ref for e in fresh)
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
            grid_event.change_seq = await uow.grid_events.next_change()
        await uow.commit()

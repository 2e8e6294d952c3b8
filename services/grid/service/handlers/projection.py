"""Work-order events keep a reported grid event's status current (shared/projection's one version rule)."""

from __future__ import annotations

from typing import Any

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
    change: OrderChanged = event.data
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_ORDERS, event_id=event.id):
            return
        grid_event = None
        if change.channel == Channel.GRID:
            grid_event = await uow.session.get(GridEvent, change.source_ref)
        if grid_event is None:
            await uow.commit()  # another channel's order: nothing of ours
            return
        applied = Applied(grid_event.order_id, grid_event.order_version or 0) if grid_event.order_id else None
        if not supersedes(change, applied):
            await uow.commit()  # an older transition arriving late must not roll the status back
            return
        grid_event.order_id, grid_event.order_version = change.order_id, change.version
        grid_event.order_number = change.order_number
        grid_event.order_state = change.to_state.value
        grid_event.state = follow_order(EventState(grid_event.state), change.to_state).value
        grid_event.updated_at = utcnow()
        grid_event.change_seq = await repo.bump(uow.session, CHANGE_COUNTER)
        await uow.commit()

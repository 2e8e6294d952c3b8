"""The order-event consumer: each appeal, and the appeals linked to it, follow the newest state of their order
(the operator's screen, the follow-up worklist); dispatch's merge (并单) links an appeal to the master's."""

from __future__ import annotations

from typing import Any

from services.hotline.adapters.appeals_repository import ORDER_COLUMNS
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import OrderChanged, OrderState
from shared.projection import Applied, supersedes

CONSUMER_ORDERS = "hotline-orders"


async def handle_order_changed(event: CloudEvent[Any], *, uow: HotlineUnitOfWork) -> None:
    """Keep the appeal and every appeal linked to it current with its order (operator's screen, follow-up)."""
    await handle_orders_changed([event], uow=uow)


async def handle_orders_changed(events: list[CloudEvent[Any]], *, uow: HotlineUnitOfWork) -> None:
    """A fetched batch of order events in one transaction: each applied as `handle_order_changed` would."""
    async with uow:
        fresh = await uow.first_deliveries(consumer=CONSUMER_ORDERS, event_ids=[e.id for e in events])
        changes: list[OrderChanged] = [e.data for e in events if e.id in fresh]
        incident_ids = sorted({c.incident_id for c in changes})
        held = {r.incident_id: (r.id, r.number, Applied(r.order_id, r.order_version), r.county_code, r.town_code)
                for r in await uow.appeals.order_followers(incident_ids)}
        now = utcnow()
        latest: dict[str, dict[str, Any]] = {}  # appeal id -> what its row (and its duplicates') becomes
        for change in changes:  # in delivery order; a later event of the batch sees what an earlier one applied
            if change.incident_id not in held:
                continue  # an order from another channel: nothing of ours to update
            appeal_id, number, applied, county, town = held[change.incident_id]
            if not supersedes(change, applied):
                continue  # an older transition arriving late must not roll the status back
            county, town = change.county_code or county, change.town_code or town
            values = {"order_id": change.order_id, "order_version": change.version,
                      "order_number": change.order_number, "status": change.to_state.value, "county_code": county,
                      "town_code": town, "updated_at": now}
            latest[appeal_id] = {"b_id": appeal_id, "b_number": number} | {f"v_{c}": values[c] for c in ORDER_COLUMNS}
            held[change.incident_id] = (appeal_id, number, Applied(change.order_id, change.version), county, town)
            if change.to_state is OrderState.MERGED and change.details.get("master"):
                await _write_latest(uow, latest)  # what came before the merge, then the merge
                await _link_merged(uow, appeal_id=appeal_id, number=number, master_order_id=change.details["master"],
                                   now=now)
        await _write_latest(uow, latest)
        await uow.commit()


async def _write_latest(uow: HotlineUnitOfWork, latest: dict[str, dict[str, Any]]) -> None:
    """Each appeal's newest order values (and its duplicates'), in one statement; `latest` is emptied."""
    await uow.appeals.write_order_values([latest[k] for k in sorted(latest)])
    latest.clear()


async def _link_merged(uow: HotlineUnitOfWork, *, appeal_id: str, number: str, master_order_id: str, now: Any) -> None:
    """Dispatch merged this appeal's order into another (并单): link the appeal, and those linked to it, to
    the master order's appeal, as a link made at the call would. A master from another channel has no
    appeal here: the appeal then just shows `merged`."""
    master = await uow.appeals.master_of_order(master_order_id, besides=appeal_id)
    if master is None:
        return
    await uow.appeals.move_under(master, appeal_id=appeal_id, number=number, now=now)

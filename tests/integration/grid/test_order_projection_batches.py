"""Grid's order-event projection takes a fetched batch in one transaction and passes other channels' orders over."""

from __future__ import annotations

from sqlalchemy import func, select

from services.grid.service import handlers
from shared.events.v1 import Channel
from tests.integration.grid.conftest import TOWN_A
from tests.integration.grid.test_handling_and_status import order_changed


async def _inbox_rows(runtime) -> int:
    inbox = runtime.uow().inbox
    async with runtime.sessions() as session:
        return (await session.execute(select(func.count()).select_from(inbox)
                                      .where(inbox.c.consumer == handlers.CONSUMER_ORDERS))).scalar_one()


async def test_another_channels_order_events_are_passed_over_without_an_inbox_row(start_grid):
    async with start_grid() as grid:
        key = await grid.key(TOWN_A)
        event = (await grid.report(key)).json()
        hotline = [order_changed(event, "dispatched", action="dispatch", version=1) for _ in range(3)]
        hotline = [e.model_copy(update={"data": e.data.model_copy(update={"channel": Channel.HOTLINE})})
                   for e in hotline]
        await handlers.handle_orders_changed(hotline, uow=grid.runtime.uow())
        assert await _inbox_rows(grid.runtime) == 0
        body = (await grid.client.get(f"/api/v1/events/{event['id']}", headers=key)).json()
        assert body["state"] == "reported" and body.get("order_number") is None


async def test_a_batch_of_order_events_applies_each_once_and_the_newest_version_wins(start_grid):
    async with start_grid() as grid:
        key = await grid.key(TOWN_A)
        event = (await grid.report(key)).json()
        dispatched = order_changed(event, "dispatched", action="dispatch", version=1)
        signed = order_changed(event, "signed", action="sign", version=2)
        await handlers.handle_orders_changed([signed, dispatched, signed], uow=grid.runtime.uow())
        body = (await grid.client.get(f"/api/v1/events/{event['id']}", headers=key)).json()
        assert (body["state"], body["order_number"]) == ("signed", "GD20261123000001")
        assert await _inbox_rows(grid.runtime) == 2
        await handlers.handle_orders_changed([dispatched], uow=grid.runtime.uow())  # redelivered, late
        body = (await grid.client.get(f"/api/v1/events/{event['id']}", headers=key)).json()
        assert body["state"] == "signed"

"""The hotline's projection of order events on the in-memory unit of work: an appeal, and the calls linked to
it, follow the newest transition of their order, whatever order the events arrive in."""

from __future__ import annotations

from typing import Any

import pytest

from services.hotline.service import handlers
from services.hotline.service.knowledge import KnowledgeBase
from shared.categories import CategoryTable
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealType, Channel, Coordinates, OrderChanged, OrderState

from .fakes import FakeHotlineUnitOfWork


@pytest.fixture
def uow() -> FakeHotlineUnitOfWork:
    return FakeHotlineUnitOfWork()


async def _appeals(uow: FakeHotlineUnitOfWork) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dispatched appeal and a second call linked to it (重复件)."""
    ctx = handlers.HotlineContext(categories=CategoryTable.load(), knowledge=KnowledgeBase())
    call = dict(caller_phone="13812341234", caller_name=None, appeal_type=AppealType.COMPLAINT, category_code="0301",
                description="楼下工地夜里一直施工", address=None, coordinates=Coordinates(lon=120.87, lat=32.01),
                urgency=None, confidential=False, anonymous=False)
    master = await handlers.create_appeal(new_uow=lambda: uow, ctx=ctx, command=handlers.CreateAppeal(**call),
                                          operator="op-7", operator_unit="320600")
    linked = await handlers.create_appeal(new_uow=lambda: uow, ctx=ctx, operator="op-7", operator_unit="320600",
                                          command=handlers.CreateAppeal(**call, link_to_order=master.body["number"]))
    return master.body, linked.body


def _event(appeal: dict[str, Any], state: OrderState, version: int) -> CloudEvent[OrderChanged]:
    change = OrderChanged(
        order_id="order-1", order_number="GD20261123000001", incident_id=appeal["incident_id"], action=state.value,
        from_state=None, to_state=state, version=version, county_code="320612", town_code="320612101",
        category_code="0301", appeal_type=AppealType.COMPLAINT, channel=Channel.HOTLINE, source_ref=appeal["number"],
        actor="system:test", occurred_at=utcnow())
    return CloudEvent[OrderChanged](source="/mcc/dispatch", type="mcc.order.v1", subject="order-1", data=change)


async def _status(uow: FakeHotlineUnitOfWork, number: str) -> tuple[str, int]:
    row = await uow.appeals.get(number)
    return row.status, row.order_version


async def test_a_late_signed_after_closed_leaves_the_appeal_and_its_duplicate_closed(uow):
    master, linked = await _appeals(uow)

    await handlers.handle_orders_changed([_event(master, OrderState.DISPATCHED, 1)], uow=uow)
    await handlers.handle_orders_changed([_event(master, OrderState.CLOSED, 3)], uow=uow)
    await handlers.handle_orders_changed([_event(master, OrderState.SIGNED, 2)], uow=uow)  # redelivered late

    assert await _status(uow, master["number"]) == ("closed", 3)
    assert await _status(uow, linked["number"]) == ("closed", 3)
    assert (await uow.appeals.get(master["number"])).order_number == "GD20261123000001"


async def test_a_batch_applies_its_newest_transition_and_a_reopen_after_it_applies_too(uow):
    master, _ = await _appeals(uow)

    await handlers.handle_orders_changed([_event(master, OrderState.SIGNED, 2), _event(master, OrderState.CLOSED, 3),
                                          _event(master, OrderState.DISPATCHED, 1)], uow=uow)
    assert await _status(uow, master["number"]) == ("closed", 3)

    await handlers.handle_orders_changed([_event(master, OrderState.DISPATCHED, 4)], uow=uow)  # 重办: newer
    assert await _status(uow, master["number"]) == ("dispatched", 4)

"""The order-status projection at grid, hotline and intake: one version rule, so a late older event is skipped.

Consumers nak with delays and NATS redelivers, so dispatch's `signed` (version 2) can arrive after its
`closed` (version 3). Each service's consumer handler runs here on the real database matrix; the runtime is
never started (no NATS or Redis is contacted).
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from shared.events.catalog import ORDER_EVENTS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealType, Channel, OrderChanged, OrderState
from shared.migrations import upgrade
from shared.projection import Applied, supersedes
from tests.support.apps import make_runtime

UNUSED = {"nats_url": "nats://127.0.0.1:1", "redis_url": "redis://127.0.0.1:1"}  # never connected


def change(state: OrderState, version: int, *, incident_id: str, channel: Channel, source_ref: str,
           order_id: str = "o-1") -> CloudEvent[OrderChanged]:
    data = OrderChanged(order_id=order_id, order_number="GD20261202000001", incident_id=incident_id,
                        action="x", from_state=None, to_state=state, version=version, unit_code="320613101",
                        tier="town", town_code="320613101", county_code="320613", category_code="0301",
                        appeal_type=AppealType.HELP, channel=channel, source_ref=source_ref, actor="system:test",
                        occurred_at=utcnow())
    return CloudEvent[OrderChanged](source="/mcc/dispatch", type=ORDER_EVENTS[state].type, data=data,
                                    subject=order_id)


async def _grid(db):
    from services.grid.adapters.orm import GridEvent, metadata
    from services.grid.adapters.uow import GridUnitOfWork
    from services.grid.config import GridSettings
    from services.grid.service.handlers import handle_order_changed

    rt = make_runtime("grid", GridSettings, metadata, db=db, unit_of_work=GridUnitOfWork, **UNUSED)
    await upgrade("grid", db.url, schema=db.schema)
    now, event_id, incident_id = utcnow(), str(uuid.uuid4()), str(uuid.uuid4())
    async with rt.uow() as uow:
        uow.session.add(GridEvent(id=event_id, incident_id=incident_id, category_code="0301", description="井盖缺失",
                                  lon=120.9, lat=32.0, state="reported", reporter_id="gw", created_at=now,
                                  updated_at=now))
        await uow.commit()

    async def state() -> tuple[str, str | None]:
        async with rt.uow() as uow:
            row = await uow.session.get(GridEvent, event_id)
            return row.state, row.order_state

    return rt, handle_order_changed, dict(incident_id=incident_id, channel=Channel.GRID, source_ref=event_id), state


async def _hotline(db):
    from services.hotline.adapters.orm import Appeal, metadata
    from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
    from services.hotline.config import HotlineSettings
    from services.hotline.service.handlers import handle_order_changed

    rt = make_runtime("hotline", HotlineSettings, metadata, db=db, unit_of_work=HotlineUnitOfWork, **UNUSED)
    await upgrade("hotline", db.url, schema=db.schema)
    now, incident_id = utcnow(), str(uuid.uuid4())
    async with rt.uow() as uow:
        uow.session.add(Appeal(id=str(uuid.uuid4()), number="12345-20261202-0001", incident_id=incident_id,
                               appeal_type="help", category_code="0301", description="井盖缺失",
                               disposition="dispatched", status="reported", created_at=now, updated_at=now))
        await uow.commit()

    async def state() -> tuple[str, str]:
        async with rt.uow() as uow:
            status = (await uow.session.execute(select(Appeal.status).where(Appeal.incident_id == incident_id))
                      ).scalar_one()
            return status, status

    return rt, handle_order_changed, dict(incident_id=incident_id, channel=Channel.HOTLINE,
                                          source_ref="12345-20261202-0001"), state


async def _intake(db):
    from services.intake.adapters.orm import OrderStatus, metadata
    from services.intake.adapters.uow import IntakeUnitOfWork
    from services.intake.config import IntakeSettings
    from services.intake.service.handlers import handle_order_changed

    rt = make_runtime("intake", IntakeSettings, metadata, db=db, unit_of_work=IntakeUnitOfWork, **UNUSED)
    await upgrade("intake", db.url, schema=db.schema)
    incident_id = str(uuid.uuid4())

    async def state() -> tuple[str, str]:
        async with rt.uow() as uow:
            row = await uow.session.get(OrderStatus, incident_id)
            return row.state, row.state

    return rt, handle_order_changed, dict(incident_id=incident_id, channel=Channel.OPEN311, source_ref="r-1"), state


@pytest.mark.parametrize("service", [_grid, _hotline, _intake], ids=["grid", "hotline", "intake"])
async def test_an_older_signed_event_arriving_after_closed_leaves_the_projection_closed(db, service):
    rt, handle, ref, state = await service(db)
    try:
        await handle(change(OrderState.DISPATCHED, 1, **ref), uow=rt.uow())
        await handle(change(OrderState.CLOSED, 3, **ref), uow=rt.uow())
        assert await state() == ("closed", "closed")
        await handle(change(OrderState.SIGNED, 2, **ref), uow=rt.uow())  # late, after a nak and a redelivery
        assert await state() == ("closed", "closed")
        await handle(change(OrderState.DISPATCHED, 4, **ref), uow=rt.uow())  # a reopen (重办) is newer: it applies
        assert await state() == ("dispatched", "dispatched")
    finally:
        await rt.engine.dispose()


def test_within_one_order_only_a_higher_version_supersedes_and_another_order_goes_by_time():
    ref = dict(incident_id="i", channel=Channel.GRID, source_ref="g")
    signed = change(OrderState.SIGNED, 2, **ref).data
    assert supersedes(signed, None) and supersedes(signed, Applied(None, 0))
    assert supersedes(signed, Applied("o-1", 1))
    assert not supersedes(signed, Applied("o-1", 2)) and not supersedes(signed, Applied("o-1", 3))
    assert supersedes(signed, Applied("o-0", 9))  # another order, time unknown
    assert supersedes(signed, Applied("o-0", 9, signed.occurred_at))
    later = signed.occurred_at.replace(year=signed.occurred_at.year + 1)
    assert not supersedes(signed, Applied("o-0", 9, later))

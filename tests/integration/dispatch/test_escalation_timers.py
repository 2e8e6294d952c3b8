"""Escalation timers at accelerated time (MCC_DISPATCH_TIME_SCALE=3600: an SLA hour lasts a second)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.dispatch.adapters.orm import OrderAudit, WorkOrder
from services.dispatch.service import handlers
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import CITY, TONGZHOU, TOWN_A, TZ_TOWN_A, accepted_incident
from tests.support.polling import eventually

FAST_SLA = """
version: 1
settings: {return_window: 2wd, extension_max: 10wd, yellow_share: 0.5}
rules:
  - {sign: 1h, handle: 3h}
"""


@pytest.fixture
def fast_sla(tmp_path):
    path = tmp_path / "sla.yaml"
    path.write_text(FAST_SLA)
    return str(path)


async def audit(runtime, order_id):
    async with runtime.sessions() as s:
        return list((await s.execute(select(OrderAudit).where(OrderAudit.order_id == order_id)
                                     .order_by(OrderAudit.id))).scalars())


async def test_an_order_nobody_signs_for_climbs_town_county_city_once_at_each_step(start_dispatch, fast_sla,
                                                                                  nats_url):
    async with start_dispatch(timers=True, time_scale=3600, sla_file=fast_sla, timer_poll_s=0.05) as d, \
            jetstream(nats_url) as js:
        order = await d.incident(accepted_incident())
        assert order["unit_code"] == TZ_TOWN_A

        async def at_city_and_supervised():
            trail = await audit(d.runtime, order["id"])
            return trail if any(a.action == "supervise" for a in trail) else None
        trail = await eventually(at_city_and_supervised, timeout=20)

        escalations = [a for a in trail if a.action == "escalate"]
        assert [(a.details["from_unit"], a.details["to_unit"]) for a in escalations] == \
            [(TZ_TOWN_A, TONGZHOU), (TONGZHOU, CITY)]
        assert all(a.actor == "system:timer" and "签收超时" in a.reason for a in escalations)
        assert [a.action for a in trail].count("supervise") == 1  # repeats only after a working day (24 s)
        # Each holder got a yellow (half the time gone) and a red warning before its step.
        warnings = [(a.unit_code, a.details["level"]) for a in trail if a.action == "warn"]
        assert warnings == [(TZ_TOWN_A, "yellow"), (TZ_TOWN_A, "red"), (TONGZHOU, "yellow"), (TONGZHOU, "red"),
                            (CITY, "yellow"), (CITY, "red")]

        events = await eventually(lambda: _count(stream_messages(js, "MCC_ORDERS"), len(trail)))
        types = [json.loads(m.data)["type"] for m in events]
        assert types.count("cn.mcc.order.escalated.v1") == 2
        # The town lost it; nothing fires again for the deadlines already handled.
        assert (await d.client.get(f"/api/v1/orders/{order['number']}", headers=TOWN_A)).status_code == 404
        assert await handlers.fire_due_timers(uow=d.runtime.uow(), holder=d.holder) == 0


async def test_a_signed_order_is_not_escalated_for_its_sign_deadline_and_a_stale_firing_does_nothing(
        start_dispatch, fast_sla):
    async with start_dispatch(timers=False, time_scale=3600, sla_file=fast_sla) as d:
        order = await d.incident(accepted_incident())
        response = await d.client.post(f"/api/v1/orders/{order['number']}/actions/sign", json={}, headers=TOWN_A)
        assert response.status_code == 200
        # Fire "later" as a late or duplicate timer would: only what is due on the signed order happens.
        # Yellow falls due 1.5 s after dispatch (half the 3 s handling time), red at 3 s: fire at 2 s after
        # dispatch by the order's own clock, so a slow machine between the calls changes nothing.
        async with d.runtime.sessions() as s:
            dispatched = (await s.execute(select(WorkOrder.dispatched_at).where(
                WorkOrder.id == order["id"]))).scalar_one()
        later = dispatched + timedelta(seconds=2)
        fired_once = await handlers.fire_due_timers(uow=d.runtime.uow(), holder=d.holder, now=later)
        fired_again = await handlers.fire_due_timers(uow=d.runtime.uow(), holder=d.holder, now=later)
        assert fired_once == 1 and fired_again == 0  # the handling clock's yellow warning, once
        async with d.runtime.sessions() as s:
            row = (await s.execute(select(WorkOrder).where(WorkOrder.id == order["id"]))).scalar_one()
        assert row.state == "signed" and row.escalation_count == 0


async def _count(coro, n):
    items = await coro
    return items if len(items) >= n else None


async def test_escalations_fire_while_the_gauges_refresh_is_slow(start_dispatch, fast_sla, monkeypatch):
    # With 100,000 open orders the gauges' count takes seconds; it must not hold back what falls due meanwhile.
    stuck = asyncio.Event()

    async def slow_gauges(**_: object) -> None:
        stuck.set()
        await asyncio.Event().wait()  # never returns: a refresh slower than the whole test

    monkeypatch.setattr(handlers, "refresh_gauges", slow_gauges)
    async with start_dispatch(timers=True, time_scale=3600, sla_file=fast_sla, timer_poll_s=0.05) as d:
        await eventually(stuck.is_set, timeout=10)
        order = await d.incident(accepted_incident())

        async def escalated():
            return any(a.action == "escalate" for a in await audit(d.runtime, order["id"]))
        assert await eventually(escalated, timeout=20)

"""A changed SLA file reschedules the open orders' timers when dispatch starts with it (and only then)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from services.dispatch.adapters.orm import WorkOrder
from services.dispatch.service import handlers
from shared.events.envelope import utcnow
from tests.support.dispatch import accepted_incident
from tests.support.polling import eventually

SLA = """
version: 1
settings: {{return_window: 2wd, extension_max: 10wd, yellow_share: {share}}}
rules:
  - {{sign: 1h, handle: 3h}}
"""


async def _timing(runtime, order_id):
    async with runtime.sessions() as s:
        row = (await s.execute(select(WorkOrder).where(WorkOrder.id == order_id))).scalar_one()
        return row.assigned_at, row.sign_deadline, row.next_due_at, row.version


async def test_changing_the_sla_file_reschedules_open_orders_at_the_next_start(start_dispatch, tmp_path):
    sla = tmp_path / "sla.yaml"
    sla.write_text(SLA.format(share=0.5))
    async with start_dispatch(timers=False, sla_file=str(sla)) as d:
        order = await d.incident(accepted_incident())
        assigned, deadline, due, version = await _timing(d.runtime, order["id"])
        assert due == assigned + (deadline - assigned) / 2  # the yellow warning, half the sign-for time gone

    async with start_dispatch(timers=False, sla_file=str(sla)) as d:  # the same file: nothing to do
        assert await _timing(d.runtime, order["id"]) == (assigned, deadline, due, version)

    sla.write_text(SLA.format(share=0.25))  # warn earlier from now on
    async with start_dispatch(timers=False, sla_file=str(sla)) as d:  # rescheduled after readiness
        async def rescheduled():
            timing = await _timing(d.runtime, order["id"])
            return timing if timing[2] != due else None

        assigned2, deadline2, due2, version2 = await eventually(rescheduled)
        assert (assigned2, deadline2) == (assigned, deadline)  # the deadline given at dispatch binds
        assert due2 == assigned + (deadline - assigned) / 4
        assert version2 == version  # a timer reschedule is no transition: no event, no audit row


async def test_a_reschedule_pages_through_every_open_order_and_leaves_versions_alone(start_dispatch):
    async with start_dispatch(timers=False) as d:
        orders = [await d.incident(accepted_incident()) for _ in range(5)]
        before = {o["id"]: await _timing(d.runtime, o["id"]) for o in orders}
        async with d.runtime.sessions() as s:
            await s.execute(update(WorkOrder).values(next_due_at=utcnow() + timedelta(days=30)))
            await s.commit()
        assert await handlers.reschedule_all(uow=d.runtime.uow(), holder=d.holder, page=2) == 5
        assert {o["id"]: await _timing(d.runtime, o["id"]) for o in orders} == before
        assert await handlers.reschedule_all(uow=d.runtime.uow(), holder=d.holder, page=2) == 0


async def test_the_timer_loop_rebuilds_the_org_tree_only_when_its_version_changed(start_dispatch):
    async with start_dispatch(timers=False) as d:
        version = d.holder.topology_version
        assert await handlers.load_org(uow=d.runtime.uow(), unless_version=version) == (None, version)
        units = list(d.holder.policy.org)
        await handlers.replace_units(uow=d.runtime.uow(), units=units[:1], replace_all=False)
        org, newer = await handlers.load_org(uow=d.runtime.uow(), unless_version=version)
        assert newer == version + 1 and org is not None and len(org) == len(units)

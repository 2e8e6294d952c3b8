"""The order-action use case (`take_action`) on the in-memory unit of work: what is written, emitted and
refused, without a database. The real repositories are exercised by tests/integration/dispatch."""

from __future__ import annotations

import pytest

from services.dispatch.adapters import reference
from services.dispatch.adapters.repository import StaleOrder
from services.dispatch.config import DispatchSettings
from services.dispatch.domain.lifecycle import Action, Actor, ForbiddenTransition, OrderNotVisible
from services.dispatch.domain.org import OrgTree
from services.dispatch.service import handlers
from shared.events.catalog import ORDER_EVENTS
from shared.roles import Role
from tests.support.dispatch import TZ_TOWN_A, TZ_TOWN_B, accepted_incident
from tests.unit.dispatch.fake_uow import FakeDispatchUnitOfWork

pytestmark = pytest.mark.unit

TOWN_A = Actor(f"town@{TZ_TOWN_A}", Role.TOWN.value, TZ_TOWN_A, name="金沙调度员", kind="session")
TOWN_B = Actor(f"town@{TZ_TOWN_B}", Role.TOWN.value, TZ_TOWN_B, name="西亭调度员", kind="session")


@pytest.fixture(scope="module")
def holder() -> handlers.PolicyHolder:
    settings = DispatchSettings()
    return handlers.PolicyHolder(reference.build_policy(settings, OrgTree.from_units(reference.initial_units(settings))))


@pytest.fixture
async def dispatched(holder):
    """A unit of work holding one order the router sent to town A, and that order (as stored)."""
    uow = FakeDispatchUnitOfWork()
    await handlers.handle_incidents_accepted([accepted_incident(town=TZ_TOWN_A)], uow=uow, holder=holder)
    (order,) = uow.orders.rows.values()
    assert (order.state, order.unit_code) == ("dispatched", TZ_TOWN_A)
    uow.events.clear()
    uow.staged.clear()
    uow.commits = 0
    return uow, order


async def test_the_holding_town_signs_its_order_and_one_event_and_one_audit_row_are_committed(holder, dispatched):
    uow, order = dispatched
    outcome = await handlers.take_action(uow=uow, holder=holder, actor=TOWN_A, order_ref=order.number,
                                         command=handlers.TakeAction(action=Action.SIGN))
    assert outcome.row.state == "signed" and outcome.row.version == 2
    assert uow.orders.rows[order.id].state == "signed" and uow.orders.rows[order.id].version == 2
    assert uow.commits == 1
    assert [e.type for e in uow.events] == [ORDER_EVENTS["signed"].type]
    assert uow.events[0].data.to_state == "signed" and uow.events[0].data.actor == TOWN_A.subject
    assert [(a["action"], a["from_state"], a["to_state"]) for a in uow.staged["order_audit"]] == [
        ("sign", "dispatched", "signed")]
    assert Action.SIGN not in outcome.allowed and Action.CLOSE in outcome.allowed


async def test_an_action_the_state_does_not_allow_is_refused_with_what_the_caller_may_do_and_nothing_written(
        holder, dispatched):
    uow, order = dispatched
    with pytest.raises(ForbiddenTransition) as refused:
        await handlers.take_action(uow=uow, holder=holder, actor=TOWN_A, order_ref=order.id,
                                   command=handlers.TakeAction(action=Action.CLOSE, result="已清运"))
    assert refused.value.current_state.value == "dispatched"
    allowed = refused.value.allowed_for_actor
    assert allowed is not None and Action.SIGN in allowed and Action.CLOSE not in allowed
    assert refused.value.status == 409 and refused.value.content() == {
        "detail": str(refused.value), "code": "invalid_transition", "current_state": "dispatched",
        "allowed_actions": [a.value for a in allowed]}
    assert uow.orders.rows[order.id].state == "dispatched" and uow.orders.rows[order.id].version == 1
    assert (uow.commits, uow.events, uow.staged) == (0, [], {})


async def test_a_stale_expected_version_is_refused_and_nothing_written(holder, dispatched):
    uow, order = dispatched
    with pytest.raises(StaleOrder) as stale:
        await handlers.take_action(uow=uow, holder=holder, actor=TOWN_A, order_ref=order.number,
                                   command=handlers.TakeAction(action=Action.SIGN, expected_version=0))
    assert stale.value.status == 409 and stale.value.content()["code"] == "stale_order" and stale.value.content()["stale"]
    assert uow.orders.rows[order.id].state == "dispatched" and uow.orders.rows[order.id].version == 1
    assert (uow.commits, uow.events, uow.staged) == (0, [], {})


async def test_another_towns_order_answers_as_one_that_does_not_exist(holder, dispatched):
    uow, order = dispatched
    with pytest.raises(OrderNotVisible) as missing:
        await handlers.take_action(uow=uow, holder=holder, actor=TOWN_B, order_ref=order.number,
                                   command=handlers.TakeAction(action=Action.SIGN))
    with pytest.raises(OrderNotVisible) as absent:
        await handlers.take_action(uow=uow, holder=holder, actor=TOWN_B, order_ref="GD20990101999999",
                                   command=handlers.TakeAction(action=Action.SIGN))
    assert missing.value.status == absent.value.status == 404
    assert str(missing.value).replace(order.number, "X") == str(absent.value).replace("GD20990101999999", "X")
    assert uow.orders.rows[order.id].state == "dispatched"
    assert (uow.commits, uow.events, uow.staged) == (0, [], {})


async def test_a_redelivered_incident_makes_no_second_order(holder, dispatched):
    uow, order = dispatched
    again = accepted_incident(town=TZ_TOWN_A, incident_id=order.incident_id)
    await handlers.handle_incidents_accepted([again], uow=uow, holder=holder)
    assert len(uow.orders.rows) == 1 and uow.events == []

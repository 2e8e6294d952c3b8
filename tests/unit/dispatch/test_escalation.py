from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.dispatch.domain.escalation import (
    EscalationChain,
    EscalationChainError,
    Trigger,
    due_warning,
    next_step,
    take_step,
)
from services.dispatch.domain.lifecycle import Action, Actor, DeadlineWarning, Order, OrderState, decide
from services.dispatch.domain.org import Tier
from services.dispatch.domain.sla import Clock, Duration, WarningLevel, WorkCalendar
from shared.reference import load_reference
from tests.unit.dispatch.city import CITY, CITY_WATER, TONGZHOU, TZ_WATER, XITING, cst

CAL = WorkCalendar()
T0 = cst(2026, 10, 13, 10)  # Tuesday

CHAIN = EscalationChain.from_mapping({"steps": [
    {"id": "sign-up", "on": "sign_overdue", "from": ["town", "county"], "after": "0h", "to": "next_tier",
     "new_deadline": {"sign": "2h"}},
    {"id": "handle-urge", "on": "handle_overdue", "from": ["town", "county"], "after": "0h", "action": "urge"},
    {"id": "handle-up", "on": "handle_overdue", "from": ["town", "county"], "after": "1wd",
     "new_deadline": {"sign": "2h", "handle": "3wd"}},
    {"id": "city-sign", "on": "sign_overdue", "from": "city", "after": "0h", "action": "escalate"},
    {"id": "city-handle", "on": "handle_overdue", "from": ["city"], "action": "supervise", "repeat": True,
     "every": "1wd"},
]})


def dispatched_to_xiting() -> Order:
    return Order(id="o-1", state=OrderState.DISPATCHED, unit_code=XITING, tier=Tier.TOWN, assigned_at=T0,
                 sign=Clock.start(T0, Duration.working_days(1), CAL),
                 handle=Clock.start(T0, Duration.working_days(10), CAL))


def test_an_order_nobody_signs_for_climbs_town_county_city_once_each(org):
    order = dispatched_to_xiting()
    assert next_step(order, cst(2026, 10, 14, 9, 59), chain=CHAIN, org=org) is None

    at = cst(2026, 10, 14, 10)  # the town's sign deadline
    step = next_step(order, at, chain=CHAIN, org=org)
    assert (step.action, step.to_tier, step.to_unit, step.trigger) == (
        Action.ESCALATE, Tier.COUNTY, TONGZHOU, Trigger.SIGN_OVERDUE)
    assert "提级至通州区" in step.reason
    decision = take_step(order, step, at, org=org, calendar=CAL)
    order = decision.order
    assert (decision.event, order.unit_code, order.tier, order.sign_deadline) == (
        "escalated", TONGZHOU, Tier.COUNTY, cst(2026, 10, 14, 12))
    assert next_step(order, at, chain=CHAIN, org=org) is None  # a duplicate firing does nothing

    at = cst(2026, 10, 14, 12)  # the county misses its two hours too
    step = next_step(order, at, chain=CHAIN, org=org)
    assert (step.action, step.to_tier, step.to_unit) == (Action.ESCALATE, Tier.CITY, CITY)
    order = take_step(order, step, at, org=org, calendar=CAL).order
    assert (order.unit_code, order.escalation_count, order.sign_deadline) == (CITY, 2, cst(2026, 10, 14, 14))

    at = cst(2026, 10, 14, 14)  # and the city: nothing above, so it is supervised where it is
    step = next_step(order, at, chain=CHAIN, org=org)
    assert (step.action, step.to_unit) == (Action.SUPERVISE, None)
    assert "督办" in step.reason
    decision = take_step(order, step, at, org=org, calendar=CAL)
    assert (decision.event, decision.order.unit_code, decision.order.supervised) == ("supervised", CITY, True)
    assert decision.order.escalation_count == 2
    assert next_step(decision.order, at + timedelta(days=30), chain=CHAIN, org=org) is None  # once


def test_a_handling_deadline_is_urged_first_then_escalated_a_working_day_later(org):
    order = replace(dispatched_to_xiting(), state=OrderState.IN_PROGRESS, signed_at=T0)
    deadline = order.handle_deadline
    assert deadline == cst(2026, 10, 27, 10)
    urge = next_step(order, deadline, chain=CHAIN, org=org)
    assert (urge.action, urge.step) == (Action.URGE, "handle-urge")
    order = take_step(order, urge, deadline, org=org, calendar=CAL).order
    assert order.urge_count == 1
    assert next_step(order, cst(2026, 10, 28, 9, 59), chain=CHAIN, org=org) is None
    up = next_step(order, cst(2026, 10, 28, 10), chain=CHAIN, org=org)
    assert (up.action, up.to_unit) == (Action.ESCALATE, TONGZHOU)
    order = take_step(order, up, cst(2026, 10, 28, 10), org=org, calendar=CAL).order
    assert (order.state, order.sign_deadline, order.handle_deadline) == (
        OrderState.DISPATCHED, cst(2026, 10, 28, 12), cst(2026, 11, 2, 10))  # Wed + 3wd skips the weekend


def test_a_repeating_step_at_the_city_supervises_every_working_day(org):
    order = Order(id="o-2", state=OrderState.SIGNED, unit_code=CITY_WATER, tier=Tier.CITY, assigned_at=T0,
                  handle=Clock(cst(2026, 10, 16, 10), Duration.working_days(3).unit))
    first = next_step(order, cst(2026, 10, 16, 10), chain=CHAIN, org=org)
    assert first.action is Action.SUPERVISE
    order = take_step(order, first, cst(2026, 10, 16, 10), org=org, calendar=CAL).order
    assert next_step(order, cst(2026, 10, 19, 9), chain=CHAIN, org=org) is None  # Friday → Monday 10:00
    again = next_step(order, cst(2026, 10, 19, 10), chain=CHAIN, org=org)
    assert again.action is Action.SUPERVISE and again.step == "city-handle"


def test_a_department_escalates_to_its_own_tiers_centre(org):
    order = replace(dispatched_to_xiting(), unit_code=TZ_WATER, tier=Tier.COUNTY)
    step = next_step(order, cst(2026, 10, 14, 10), chain=CHAIN, org=org)
    assert (step.to_unit, step.to_tier) == (TONGZHOU, Tier.COUNTY)


def test_nothing_escalates_while_paused_or_while_an_extension_awaits_an_answer(org):
    late = cst(2026, 11, 30, 10)
    signed = replace(dispatched_to_xiting(), state=OrderState.SIGNED)
    assert next_step(signed, late, chain=CHAIN, org=org) is not None
    assert next_step(replace(signed, extension_requested=Duration.working_days(2)), late, chain=CHAIN,
                     org=org) is None
    paused = replace(signed, state=OrderState.RETURN_REQUESTED, paused_state=OrderState.SIGNED,
                     sign=signed.sign.pause(T0, CAL), handle=signed.handle.pause(T0, CAL))
    assert next_step(paused, late, chain=CHAIN, org=org) is None
    assert next_step(replace(signed, state=OrderState.CLOSED), late, chain=CHAIN, org=org) is None


def test_warnings_come_yellow_then_red_once_each(org):
    order = dispatched_to_xiting()  # sign deadline Wednesday 10:00, 24 hours after dispatch
    assert due_warning(order, cst(2026, 10, 14, 3, 59), yellow_share=0.75) is None
    yellow = due_warning(order, cst(2026, 10, 14, 4), yellow_share=0.75)
    assert yellow == DeadlineWarning("sign", WarningLevel.YELLOW)
    order = decide(order, Action.WARN, Actor.system("timer"), cst(2026, 10, 14, 4), org=org, warning=yellow).order
    assert due_warning(order, cst(2026, 10, 14, 9), yellow_share=0.75) is None
    assert due_warning(order, cst(2026, 10, 14, 10), yellow_share=0.75) == DeadlineWarning("sign", WarningLevel.RED)


def test_a_malformed_chain_is_refused_with_every_fault():
    with pytest.raises(EscalationChainError) as caught:
        EscalationChain.from_mapping({"steps": [
            {"id": "a", "on": "sign_overdue", "from": ["town"]},
            {"id": "b", "on": "handle_overdue", "new_deadline": {"sign": "2h"}},
            {"id": "c", "on": "handle_overdue", "action": "supervise", "repeat": True},
            {"id": "c", "on": "sign_late"},
            {"id": "d", "on": "sign_overdue", "to": "province"},
        ]})
    problems = "\n".join(caught.value.problems)
    for expected in ("step a: an escalate step needs new_deadline.sign",
                     "step b: a handle_overdue escalate step needs new_deadline.handle",
                     "step c: a repeating step needs a positive `every`", "'sign_late' is not a valid Trigger",
                     "to must be next_tier"):
        assert expected in problems


def test_the_shipped_chain_loads_and_escalates_a_missed_sign_for(org):
    chain = EscalationChain.from_mapping(load_reference("escalation"))
    step = next_step(dispatched_to_xiting(), cst(2026, 10, 14, 10), chain=chain, org=org)
    assert (step.action, step.to_unit, step.new_deadlines.sign) == (
        Action.ESCALATE, TONGZHOU, Duration.hours(2))

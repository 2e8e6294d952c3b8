from __future__ import annotations

from dataclasses import replace

import pytest

from services.dispatch.domain.lifecycle import (
    TRANSITIONS,
    Action,
    Actor,
    DeadlineWarning,
    FollowUp,
    ForbiddenTransition,
    InvalidCommand,
    NotPermitted,
    Order,
    OrderNotVisible,
    OrderState,
    RuleViolated,
    allowed_actions,
    can_act,
    decide,
)
from services.dispatch.domain.org import Tier
from services.dispatch.domain.sla import Clock, Duration, Limits, WarningLevel, WorkCalendar
from shared.events.catalog import ORDER_EVENT_NAMES
from shared.roles import Role
from tests.unit.dispatch.city import (
    CHONGCHUAN,
    CITY,
    HEPING,
    JINSHA,
    TONGZHOU,
    TZ_MARKET,
    TZ_WATER,
    XITING,
    XITING_VILLAGE,
    cst,
)

WD, H = Duration.working_days, Duration.hours
CAL = WorkCalendar()
T0 = cst(2026, 10, 13, 10)  # Tuesday, an ordinary working week
NOW = cst(2026, 10, 13, 11)
LIMITS = Limits(WD(1), WD(10))

SYSTEM = Actor.system("test")
OPERATOR = Actor("op-1", Role.OPERATOR, CITY)
CITY_DISPATCHER = Actor("city-1", Role.CITY, CITY)
TONGZHOU_DISPATCHER = Actor("tz-1", Role.COUNTY, TONGZHOU)
CHONGCHUAN_DISPATCHER = Actor("cc-1", Role.COUNTY, CHONGCHUAN)
XITING_DISPATCHER = Actor("xt-1", Role.TOWN, XITING)
JINSHA_DISPATCHER = Actor("js-1", Role.TOWN, JINSHA)
TZ_WATER_STAFF = Actor("water-1", Role.DEPARTMENT, TZ_WATER)


def order_in(state: OrderState, **changes) -> Order:
    """An order held by 西亭镇 in `state`, dispatched at T0 with 1wd to sign and 10wd to handle."""
    sign, handle = Clock.start(T0, WD(1), CAL), Clock.start(T0, WD(10), CAL)
    base = Order(id="o-1", state=state, unit_code=XITING, tier=Tier.TOWN, assigned_at=T0, sign=sign, handle=handle)
    if state is OrderState.ACCEPTED:
        base = Order(id="o-1", state=state)
    elif state is OrderState.QUEUED:
        base = Order(id="o-1", state=state, unit_code=TONGZHOU, tier=Tier.COUNTY, assigned_at=T0)
    elif state is OrderState.RETURN_REQUESTED:
        base = replace(base, sign=sign.pause(T0, CAL), handle=handle.pause(T0, CAL),
                       paused_state=OrderState.SIGNED, paused_at=T0)
    elif state is OrderState.FOLLOWED_UP:
        base = replace(base, follow_up=FollowUp("dissatisfied", resolved=False, unit_at_fault=True))
    return replace(base, **changes)


MASTER = Order(id="o-master", state=OrderState.IN_PROGRESS, unit_code=XITING, tier=Tier.TOWN)


def scenario(state: OrderState, action: Action) -> tuple[Order, Actor, dict]:
    """A valid actor and inputs for one allowed transition."""
    order = order_in(state)
    holder = XITING_DISPATCHER
    actor, kwargs = {
        Action.DISPATCH: (SYSTEM, {"to_unit": XITING, "limits": LIMITS}),
        Action.QUEUE: (SYSTEM, {"to_unit": TONGZHOU}),
        Action.ROUTE: (TONGZHOU_DISPATCHER, {"to_unit": JINSHA, "limits": LIMITS}),
        Action.SIGN: (holder, {}),
        Action.START: (holder, {}),
        Action.RETURN: (holder, {"reason": "不属于本镇职责"}),
        Action.APPROVE_RETURN: (TONGZHOU_DISPATCHER, {}),
        Action.REJECT_RETURN: (TONGZHOU_DISPATCHER, {"reason": "属地管理"}),
        Action.REQUEST_EXTENSION: (holder, {"extension": WD(3), "reason": "需协调施工单位"}),
        Action.APPROVE_EXTENSION: (TONGZHOU_DISPATCHER, {}),
        Action.REFUSE_EXTENSION: (TONGZHOU_DISPATCHER, {"reason": "理由不充分"}),
        Action.URGE: (TONGZHOU_DISPATCHER, {}),
        Action.SUPERVISE: (CITY_DISPATCHER, {}),
        Action.ESCALATE: (holder, {"reason": "本镇无力处置", "limits": Limits(H(2))}),
        Action.WARN: (SYSTEM, {"warning": DeadlineWarning("sign" if state is OrderState.DISPATCHED else "handle",
                                                          WarningLevel.YELLOW)}),
        Action.CLOSE: (holder, {"result": "已修复", "evidence": ["photo-1"]}),
        Action.FOLLOW_UP: (OPERATOR, {"follow_up": FollowUp("satisfied", resolved=True)}),
        Action.REOPEN: (OPERATOR, {"limits": LIMITS}),
        Action.ARCHIVE: (SYSTEM, {}),
        Action.MERGE: (OPERATOR, {"master": MASTER}),
        Action.REASSIGN: (TONGZHOU_DISPATCHER, {"to_unit": JINSHA, "reason": "实际位置在金沙"}),
    }[action]
    if action in (Action.APPROVE_EXTENSION, Action.REFUSE_EXTENSION):
        order = replace(order, extension_requested=WD(3))
    return order, actor, kwargs


@pytest.mark.parametrize(("state", "action"), sorted(TRANSITIONS, key=lambda k: (k[0].value, k[1].value)),
                         ids=lambda v: v.value)
def test_every_transition_in_the_table_can_be_taken(org, state, action):
    order, actor, kwargs = scenario(state, action)
    transition = TRANSITIONS[(state, action)]
    assert actor.role in transition.roles
    decision = decide(order, action, actor, NOW, org=org, calendar=CAL, **kwargs)
    assert decision.to_state is (transition.to_state or order.paused_state)
    assert decision.event == transition.event and decision.event in ORDER_EVENT_NAMES
    assert decision.from_state is state and decision.before is order
    assert action in allowed_actions(order, actor=actor, org=org)


def test_every_event_the_table_names_is_in_the_catalogue():
    assert {t.event for t in TRANSITIONS.values()} <= set(ORDER_EVENT_NAMES)
    assert {"dispatched", "signed", "escalated", "closed", "reopened", "merged"} <= {
        t.event for t in TRANSITIONS.values()}


@pytest.mark.parametrize(("state", "action", "allowed"), [
    (OrderState.CLOSED, Action.SIGN, (Action.FOLLOW_UP, Action.ARCHIVE)),
    (OrderState.ARCHIVED, Action.REOPEN, ()),
    (OrderState.MERGED, Action.SIGN, ()),
    (OrderState.DISPATCHED, Action.CLOSE, (Action.SIGN, Action.RETURN, Action.URGE, Action.SUPERVISE,
                                           Action.ESCALATE, Action.WARN, Action.MERGE, Action.REASSIGN)),
    (OrderState.IN_PROGRESS, Action.RETURN, (Action.REQUEST_EXTENSION, Action.URGE, Action.SUPERVISE,
                                             Action.ESCALATE, Action.WARN, Action.CLOSE, Action.MERGE,
                                             Action.REASSIGN)),
    (OrderState.RETURN_REQUESTED, Action.SIGN, (Action.APPROVE_RETURN, Action.REJECT_RETURN, Action.SUPERVISE)),
    (OrderState.QUEUED, Action.SIGN, (Action.ROUTE, Action.SUPERVISE, Action.MERGE)),
])
def test_a_forbidden_transition_names_the_state_and_the_allowed_actions(org, state, action, allowed):
    with pytest.raises(ForbiddenTransition) as caught:
        decide(order_in(state), action, CITY_DISPATCHER, NOW, org=org)
    assert caught.value.current_state is state
    assert caught.value.allowed_actions == allowed


def test_the_allowed_actions_for_the_actor_are_those_its_role_permits(org):
    with pytest.raises(ForbiddenTransition) as caught:
        decide(order_in(OrderState.DISPATCHED), Action.CLOSE, XITING_DISPATCHER, NOW, org=org)
    assert caught.value.allowed_for_actor == (Action.SIGN, Action.RETURN, Action.ESCALATE, Action.MERGE)


def test_a_town_cannot_see_another_towns_order(org):
    order = order_in(OrderState.DISPATCHED)
    with pytest.raises(OrderNotVisible):
        decide(order, Action.SIGN, JINSHA_DISPATCHER, NOW, org=org)
    with pytest.raises(OrderNotVisible):
        decide(order, Action.URGE, CHONGCHUAN_DISPATCHER, NOW, org=org)
    with pytest.raises(OrderNotVisible):
        decide(order, Action.SIGN, TZ_WATER_STAFF, NOW, org=org)


@pytest.mark.parametrize(("role", "unit", "order_unit", "visible"), [
    (Role.TOWN, XITING, XITING, True),
    (Role.TOWN, XITING, JINSHA, False),
    (Role.TOWN, XITING, TONGZHOU, False),
    (Role.COUNTY, TONGZHOU, XITING, True),
    (Role.COUNTY, TONGZHOU, TZ_WATER, True),
    (Role.COUNTY, TONGZHOU, HEPING, False),
    (Role.COUNTY, TONGZHOU, CITY, False),
    (Role.CITY, CITY, HEPING, True),
    (Role.DEPARTMENT, TZ_WATER, TZ_WATER, True),
    (Role.DEPARTMENT, TZ_WATER, TZ_MARKET, False),
    (Role.OPERATOR, CITY, HEPING, True),
    (Role.TOWN, TONGZHOU, XITING, False),  # a town role on a county unit sees nothing
    (Role.COUNTY, XITING, XITING, False),
    (Role.ADMIN, CITY, XITING, False),
])
def test_scope_follows_the_tree(org, role, unit, order_unit, visible):
    assert can_act(role, unit, order_unit, org) is visible


def test_only_the_holder_signs_and_only_an_upper_tier_arbitrates(org):
    with pytest.raises(NotPermitted, match="承办单位"):
        decide(order_in(OrderState.DISPATCHED), Action.SIGN, TONGZHOU_DISPATCHER, NOW, org=org)
    with pytest.raises(NotPermitted, match="角色 town_dispatcher 无权执行 approve_extension"):
        decide(order_in(OrderState.SIGNED, extension_requested=WD(2)), Action.APPROVE_EXTENSION,
               XITING_DISPATCHER, NOW, org=org)
    with pytest.raises(NotPermitted, match="角色 town_dispatcher 无权执行 route"):
        decide(order_in(OrderState.QUEUED, unit_code=XITING), Action.ROUTE, XITING_DISPATCHER, NOW, org=org,
               to_unit=XITING, limits=LIMITS)
    own_queue = order_in(OrderState.QUEUED)
    with pytest.raises(NotPermitted, match="上级单位"):
        decide(own_queue, Action.SUPERVISE, TONGZHOU_DISPATCHER, NOW, org=org)


def test_no_tier_approves_its_own_extension_the_one_above_does(org):
    held_by_county = order_in(OrderState.SIGNED, unit_code=TONGZHOU, tier=Tier.COUNTY, extension_requested=WD(2))
    with pytest.raises(NotPermitted, match="上级单位"):
        decide(held_by_county, Action.APPROVE_EXTENSION, TONGZHOU_DISPATCHER, NOW, org=org)
    assert Action.APPROVE_EXTENSION not in allowed_actions(held_by_county, actor=TONGZHOU_DISPATCHER, org=org)
    approved = decide(held_by_county, Action.APPROVE_EXTENSION, CITY_DISPATCHER, NOW, org=org, calendar=CAL)
    assert approved.order.extension_granted == 2
    with pytest.raises(NotPermitted, match="上级单位"):
        decide(order_in(OrderState.SIGNED, unit_code=CITY, tier=Tier.CITY), Action.URGE, CITY_DISPATCHER, NOW,
               org=org)


def test_the_county_arbitrates_its_departments_returns(org):
    order = order_in(OrderState.RETURN_REQUESTED, unit_code=TZ_WATER, tier=Tier.COUNTY)
    decision = decide(order, Action.APPROVE_RETURN, TONGZHOU_DISPATCHER, NOW, org=org)
    assert (decision.order.state, decision.order.unit_code) == (OrderState.QUEUED, TONGZHOU)
    assert decision.details["returned_by"] == TZ_WATER


def test_a_return_pauses_the_clocks_and_a_rejected_return_resumes_them(org):
    signed = order_in(OrderState.SIGNED)
    assert signed.handle_deadline == cst(2026, 10, 27, 10)
    returned = decide(signed, Action.RETURN, XITING_DISPATCHER, cst(2026, 10, 14, 10), org=org, calendar=CAL,
                      reason="应由水务部门处理")
    assert returned.order.state is OrderState.RETURN_REQUESTED and returned.event == "returned"
    assert returned.order.handle_deadline is None and returned.order.handle.remaining.amount == pytest.approx(9)
    assert returned.details["arbiter"] == TONGZHOU
    # The county takes three calendar days (a weekend among them) to rule.
    ruled = decide(returned.order, Action.REJECT_RETURN, TONGZHOU_DISPATCHER, cst(2026, 10, 19, 10), org=org,
                   calendar=CAL, reason="属地管理事项")
    assert ruled.order.state is OrderState.SIGNED and ruled.event == "return_rejected"
    assert ruled.order.handle_deadline == cst(2026, 10, 30, 10)  # 9 working days from Monday the 19th
    assert ruled.order.paused_state is None


def test_an_approved_return_lands_in_the_arbiters_queue_to_be_routed_again(org):
    returned = order_in(OrderState.RETURN_REQUESTED)
    approved = decide(returned, Action.APPROVE_RETURN, TONGZHOU_DISPATCHER, NOW, org=org)
    assert (approved.order.state, approved.order.unit_code, approved.event) == (
        OrderState.QUEUED, TONGZHOU, "return_approved")
    assert approved.order.sign_deadline is None and approved.order.handle.remaining is None
    routed = decide(approved.order, Action.ROUTE, TONGZHOU_DISPATCHER, NOW, org=org, calendar=CAL,
                    to_unit=TZ_WATER, limits=LIMITS)
    assert (routed.order.state, routed.order.unit_code, routed.order.tier) == (
        OrderState.DISPATCHED, TZ_WATER, Tier.COUNTY)
    assert routed.order.sign_deadline == cst(2026, 10, 14, 11)


def test_a_return_after_the_window_is_refused(org):
    late = cst(2026, 10, 15, 10, 1)  # two working days and a minute after T0
    with pytest.raises(RuleViolated, match="退单须在接单后 2wd 内提出"):
        decide(order_in(OrderState.SIGNED), Action.RETURN, XITING_DISPATCHER, late, org=org, reason="不归我们")
    on_time = decide(order_in(OrderState.SIGNED), Action.RETURN, XITING_DISPATCHER, cst(2026, 10, 15, 10),
                     org=org, reason="不归我们")
    assert on_time.order.state is OrderState.RETURN_REQUESTED


def test_a_refusal_lists_only_the_actions_the_caller_may_take(org):
    late, order = cst(2026, 10, 15, 10, 1), order_in(OrderState.SIGNED)
    with pytest.raises(RuleViolated) as caught:
        decide(order, Action.RETURN, XITING_DISPATCHER, late, org=org, reason="不归我们")
    mine = allowed_actions(order, actor=XITING_DISPATCHER, org=org)
    assert caught.value.allowed_for_actor == mine
    assert set(mine) < set(caught.value.allowed_actions)  # the state allows more, for other callers


def test_a_return_needs_a_reason(org):
    with pytest.raises(InvalidCommand, match="理由"):
        decide(order_in(OrderState.DISPATCHED), Action.RETURN, XITING_DISPATCHER, NOW, org=org, reason=" ")


def test_the_city_cannot_return_an_order_as_nobody_is_above_it(org):
    order = order_in(OrderState.DISPATCHED, unit_code=CITY, tier=Tier.CITY)
    with pytest.raises(RuleViolated, match="无上级仲裁"):
        decide(order, Action.RETURN, CITY_DISPATCHER, NOW, org=org, reason="不归市级")


def test_an_approved_extension_moves_the_handling_deadline(org):
    order = order_in(OrderState.IN_PROGRESS)
    asked = decide(order, Action.REQUEST_EXTENSION, XITING_DISPATCHER, NOW, org=org, extension=WD(3),
                   reason="等待配件")
    assert asked.order.extension_pending and asked.order.state is OrderState.IN_PROGRESS
    assert Action.APPROVE_EXTENSION in allowed_actions(asked.order)
    assert Action.REQUEST_EXTENSION not in allowed_actions(asked.order)
    approved = decide(asked.order, Action.APPROVE_EXTENSION, TONGZHOU_DISPATCHER, NOW, org=org, calendar=CAL)
    assert approved.order.handle_deadline == cst(2026, 10, 30, 10)  # 27th + 3 working days
    assert approved.order.extension_granted == 3 and not approved.order.extension_pending
    assert approved.event == "extended"


def test_extensions_are_capped_and_must_be_asked_before_the_deadline(org):
    order = order_in(OrderState.SIGNED, extension_granted=8)
    with pytest.raises(RuleViolated, match="延期累计不得超过 10wd"):
        decide(order, Action.REQUEST_EXTENSION, XITING_DISPATCHER, NOW, org=org, extension=WD(3), reason="r")
    after_deadline = cst(2026, 10, 27, 10)
    with pytest.raises(RuleViolated, match="届满前"):
        decide(order_in(OrderState.SIGNED), Action.REQUEST_EXTENSION, XITING_DISPATCHER, after_deadline, org=org,
               extension=WD(1), reason="r")
    with pytest.raises(RuleViolated, match="没有待审批的延期申请") as caught:
        decide(order_in(OrderState.SIGNED), Action.APPROVE_EXTENSION, TONGZHOU_DISPATCHER, NOW, org=org)
    assert Action.APPROVE_EXTENSION not in caught.value.allowed_actions


def test_reopen_only_when_the_caller_is_dissatisfied_and_the_unit_was_at_fault(org):
    for follow_up in (FollowUp("satisfied", resolved=True), FollowUp("dissatisfied", unit_at_fault=False),
                      FollowUp("basically_satisfied", unit_at_fault=True)):
        order = order_in(OrderState.FOLLOWED_UP, follow_up=follow_up)
        with pytest.raises(RuleViolated, match="重办"):
            decide(order, Action.REOPEN, OPERATOR, NOW, org=org, limits=LIMITS)
        assert Action.REOPEN not in allowed_actions(order)
    reopened = decide(order_in(OrderState.FOLLOWED_UP), Action.REOPEN, OPERATOR, NOW, org=org, calendar=CAL,
                      limits=LIMITS)
    assert (reopened.order.state, reopened.order.unit_code, reopened.order.reopen_count) == (
        OrderState.DISPATCHED, XITING, 1)
    assert reopened.order.follow_up is None and reopened.order.sign_deadline == cst(2026, 10, 14, 11)


def test_a_duplicate_merges_only_into_an_open_master(org):
    with pytest.raises(RuleViolated, match="未办结"):
        decide(order_in(OrderState.DISPATCHED), Action.MERGE, OPERATOR, NOW, org=org,
               master=replace(MASTER, state=OrderState.CLOSED))
    with pytest.raises(InvalidCommand, match="itself"):
        decide(order_in(OrderState.DISPATCHED), Action.MERGE, OPERATOR, NOW, org=org,
               master=order_in(OrderState.SIGNED))
    with pytest.raises(InvalidCommand, match="no master order"):  # as if it did not exist: no existence oracle
        decide(order_in(OrderState.DISPATCHED), Action.MERGE, XITING_DISPATCHER, NOW, org=org,
               master=replace(MASTER, unit_code=JINSHA))
    merged = decide(order_in(OrderState.DISPATCHED), Action.MERGE, XITING_DISPATCHER, NOW, org=org, master=MASTER)
    assert (merged.order.state, merged.order.merged_into) == (OrderState.MERGED, MASTER.id)
    assert merged.order.sign_deadline is None and merged.order.handle_deadline is None


def test_nothing_is_dispatched_to_a_village(org):
    with pytest.raises(InvalidCommand, match="村"):
        decide(order_in(OrderState.ACCEPTED), Action.DISPATCH, SYSTEM, NOW, org=org, to_unit=XITING_VILLAGE,
               limits=LIMITS)


def test_a_county_reassigns_only_within_its_county(org):
    with pytest.raises(NotPermitted, match="不在您的辖区内"):
        decide(order_in(OrderState.SIGNED), Action.REASSIGN, TONGZHOU_DISPATCHER, NOW, org=org, to_unit=HEPING,
               reason="r")
    by_city = decide(order_in(OrderState.SIGNED), Action.REASSIGN, CITY_DISPATCHER, NOW, org=org, calendar=CAL,
                     to_unit=HEPING, reason="位置在崇川", limits=Limits(WD(1)))
    assert (by_city.order.unit_code, by_city.order.tier, by_city.order.state) == (
        HEPING, Tier.TOWN, OrderState.DISPATCHED)
    assert by_city.order.handle_deadline == order_in(OrderState.SIGNED).handle_deadline  # the caller's promise
    assert set(by_city.changed()) >= {"unit_code", "state", "sign", "assigned_at"}


def test_closing_needs_a_result_and_evidence(org):
    with pytest.raises(InvalidCommand, match="evidence"):
        decide(order_in(OrderState.IN_PROGRESS), Action.CLOSE, XITING_DISPATCHER, NOW, org=org, result="已处理")
    closed = decide(order_in(OrderState.IN_PROGRESS), Action.CLOSE, XITING_DISPATCHER, NOW, org=org,
                    result="已处理", evidence=["photo-1", "photo-2"])
    assert closed.details == {"result": "已处理", "evidence": ["photo-1", "photo-2"], "on_time": True}
    assert closed.order.closed_at == NOW


def test_a_manual_escalation_goes_one_tier_up_and_the_city_is_the_top(org):
    up = decide(order_in(OrderState.IN_PROGRESS), Action.ESCALATE, XITING_DISPATCHER, NOW, org=org, calendar=CAL,
                reason="涉及多个部门", limits=Limits(H(2)))
    assert (up.order.unit_code, up.order.tier, up.order.state, up.order.escalation_count) == (
        TONGZHOU, Tier.COUNTY, OrderState.DISPATCHED, 1)
    assert up.order.sign_deadline == cst(2026, 10, 13, 13)
    assert up.order.handle_deadline == order_in(OrderState.IN_PROGRESS).handle_deadline
    at_city = order_in(OrderState.DISPATCHED, unit_code=CITY, tier=Tier.CITY)
    with pytest.raises(RuleViolated, match="督办"):
        decide(at_city, Action.ESCALATE, SYSTEM, NOW, org=org, reason="签收超时", limits=Limits(H(2)))


def test_a_warning_is_recorded_once_per_deadline_and_level(org):
    order = order_in(OrderState.DISPATCHED)
    warned = decide(order, Action.WARN, SYSTEM, NOW, org=org, warning=DeadlineWarning("sign", WarningLevel.RED))
    assert warned.details["level"] == "red" and len(warned.order.warnings) == 1
    with pytest.raises(RuleViolated, match="已发出"):
        decide(warned.order, Action.WARN, SYSTEM, NOW, org=org, warning=DeadlineWarning("sign", WarningLevel.RED))


def test_creation_dispatches_or_queues_an_accepted_order(org):
    sent = decide(order_in(OrderState.ACCEPTED), Action.DISPATCH, SYSTEM, T0, org=org, calendar=CAL,
                  to_unit=TZ_WATER, limits=Limits(H(2), H(24)))
    assert (sent.order.unit_code, sent.order.tier, sent.event) == (TZ_WATER, Tier.COUNTY, "dispatched")
    assert (sent.order.sign_deadline, sent.order.handle_deadline) == (cst(2026, 10, 13, 12), cst(2026, 10, 14, 10))
    queued = decide(order_in(OrderState.ACCEPTED), Action.QUEUE, SYSTEM, T0, org=org, to_unit=TONGZHOU)
    assert (queued.order.state, queued.order.unit_code, queued.event) == (OrderState.QUEUED, TONGZHOU, "queued")
    with pytest.raises(InvalidCommand, match="county or the city"):
        decide(order_in(OrderState.ACCEPTED), Action.QUEUE, SYSTEM, T0, org=org, to_unit=XITING)

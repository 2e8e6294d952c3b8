"""`decide`: one transition, pure: the checks in order, then the action's own rule (one function each)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.dispatch.domain.lifecycle.errors import (
    ForbiddenTransition,
    InvalidCommand,
    NotPermitted,
    OrderNotVisible,
    RuleViolated,
)
from services.dispatch.domain.lifecycle.order import (
    Actor,
    DeadlineWarning,
    Decision,
    FollowUp,
    Order,
    StepMark,
    WarningMark,
)
from services.dispatch.domain.lifecycle.scope import _relation_ok, _unavailable, allowed_actions, can_act
from services.dispatch.domain.lifecycle.table import (
    TRANSITIONS,
    Action,
    Relation,
)
from services.dispatch.domain.org import OrgTree, UnitKind
from services.dispatch.domain.sla import Clock, Duration, Limits, SlaSettings, WarningLevel, WorkCalendar
from shared.roles import Role


@dataclass(frozen=True)
class _Ctx:
    order: Order
    action: Action
    actor: Actor
    now: datetime
    org: OrgTree
    calendar: WorkCalendar
    settings: SlaSettings
    to_unit: str | None
    limits: Limits | None
    reason: str | None
    extension: Duration | None
    result: str | None
    evidence: tuple[str, ...]
    follow_up: FollowUp | None
    master: Order | None
    warning: DeadlineWarning | None
    mark: StepMark | None

    def refuse(self, message: str) -> RuleViolated:
        return RuleViolated(self.order.state, allowed_actions(self.order), message,
                            allowed_for_actor=allowed_actions(self.order, actor=self.actor, org=self.org))

    def need_reason(self, what: str) -> str:
        if not self.reason or not self.reason.strip():
            raise InvalidCommand(f"{what}须填写理由 (a reason is required)")
        return self.reason.strip()


def decide(order: Order, action: Action | str, actor: Actor, now: datetime, *, org: OrgTree,
           calendar: WorkCalendar | None = None, settings: SlaSettings | None = None, to_unit: str | None = None,
           limits: Limits | None = None, reason: str | None = None, extension: Duration | None = None,
           result: str | None = None, evidence: Iterable[str] = (), follow_up: FollowUp | None = None,
           master: Order | None = None, warning: DeadlineWarning | None = None,
           mark: StepMark | None = None) -> Decision:
    """The outcome of `actor` taking `action` on `order` at `now`, or the refusal (see the module doc)."""
    action = Action(action)
    if not can_act(actor.role, actor.unit_code, order.unit_code, org):
        raise OrderNotVisible(f"未找到工单 {order.id}")
    transition = TRANSITIONS.get((order.state, action))
    if transition is None:
        raise ForbiddenTransition(order.state, allowed_actions(order),
                                  f"工单当前状态为 {order.state.value}，不能执行 {action.value}",
                                  allowed_for_actor=allowed_actions(order, actor=actor, org=org))
    if actor.role not in transition.roles:
        raise NotPermitted(f"角色 {actor.role} 无权执行 {action.value}（可执行的角色："
                           f"{', '.join(sorted(str(r) for r in transition.roles))}）")
    if not _relation_ok(transition.relation, order, actor, org):
        who = "承办单位" if transition.relation is Relation.HOLDER else "上级单位"
        raise NotPermitted(f"只有{who}可以对此工单执行 {action.value}")
    blocked = _unavailable(order, action)
    if blocked is not None:
        raise RuleViolated(order.state, allowed_actions(order), blocked,
                           allowed_for_actor=allowed_actions(order, actor=actor, org=org))
    ctx = _Ctx(order, action, actor, now, org, calendar or WorkCalendar(), settings or SlaSettings(), to_unit,
               limits, reason, extension, result, tuple(evidence), follow_up, master, warning, mark)
    after, audit_reason, details = _HANDLERS[action](ctx)
    to_state = transition.to_state or order.paused_state
    assert to_state is not None
    after = replace(after, state=to_state)
    if mark is not None:
        after = replace(after, steps=(*after.steps, mark))
    return Decision(action, transition.event, order, after, actor, now, audit_reason, details)


Outcome = tuple[Order, str | None, dict[str, Any]]


def _send(ctx: _Ctx, target: str, *, restart: bool, upward: bool = False) -> Order:
    """The order handed to `target`, which must sign for it: new clocks from the limits given (all of them
    when `restart`, else only those given), pending requests dropped. A dispatcher sends only within its
    area, except `upward` (escalation), which by nature leaves it."""
    org, order = ctx.org, ctx.order
    if not org.is_dispatch_target(target):
        unit = org.get(target)
        if unit is not None and unit.kind in (UnitKind.VILLAGE, UnitKind.COMMUNITY):
            raise InvalidCommand(f"工单不能派给村(社区) {target}: 由镇街下沉处置 (never dispatch to a village or "
                                 "community committee)")
        raise InvalidCommand(f"unknown dispatch target {target!r}")
    if not upward and ctx.actor.role in (Role.COUNTY, Role.CITY) and not can_act(ctx.actor.role, ctx.actor.unit_code, target, org):
        raise NotPermitted(f"{target} 不在您的辖区内")
    limits = ctx.limits or Limits()
    if restart and (limits.sign is None or limits.handle is None):
        raise InvalidCommand("sign and handle limits are required to dispatch")
    sign = Clock.start(ctx.now, limits.sign, ctx.calendar) if limits.sign or restart else order.sign
    handle = Clock.start(ctx.now, limits.handle, ctx.calendar) if limits.handle or restart else order.handle
    return replace(order, unit_code=target, tier=org.tier_of(target), assigned_at=ctx.now, sign=sign,
                   handle=handle, signed_at=None, paused_state=None, paused_at=None, extension_requested=None)


def _dispatch(ctx: _Ctx) -> Outcome:
    if not ctx.to_unit:
        raise InvalidCommand("to_unit is required")
    after = _send(ctx, ctx.to_unit, restart=True)
    return after, ctx.reason, {"to_unit": ctx.to_unit, "from_unit": ctx.order.unit_code}


def _queue(ctx: _Ctx) -> Outcome:
    unit = ctx.org.get(ctx.to_unit)
    if unit is None or unit.kind not in (UnitKind.COUNTY, UnitKind.CITY):
        raise InvalidCommand("a queue belongs to a county or the city: to_unit must name one")
    after = replace(ctx.order, unit_code=unit.code, tier=ctx.org.tier_of(unit.code), assigned_at=ctx.now,
                    sign=Clock(), handle=Clock())
    return after, ctx.reason, {"queue": unit.code}


def _reassign(ctx: _Ctx) -> Outcome:
    reason = ctx.need_reason("改派")
    if not ctx.to_unit or ctx.to_unit == ctx.order.unit_code:
        raise InvalidCommand("to_unit must name another unit")
    after = _send(ctx, ctx.to_unit, restart=False)
    return after, reason, {"from_unit": ctx.order.unit_code, "to_unit": ctx.to_unit}


def _sign(ctx: _Ctx) -> Outcome:
    on_time = ctx.order.sign.deadline is None or ctx.now <= ctx.order.sign.deadline
    return replace(ctx.order, signed_at=ctx.now), ctx.reason, {"on_time": on_time}


def _start(ctx: _Ctx) -> Outcome:
    return ctx.order, ctx.reason, {}


def _return(ctx: _Ctx) -> Outcome:
    reason = ctx.need_reason("退单")
    order = ctx.order
    if order.assigned_at is not None:
        window_end = ctx.calendar.add(order.assigned_at, ctx.settings.return_window)
        if ctx.now > window_end:
            raise ctx.refuse(f"退单须在接单后 {ctx.settings.return_window} 内提出 (return window ended "
                             f"{window_end.isoformat()})")
    arbiter = ctx.org.upper_tier(order.unit_code or "")
    if arbiter is None:
        raise ctx.refuse("市级为最高层级，无上级仲裁退单 (the city has no upper tier to arbitrate)")
    after = replace(order, sign=order.sign.pause(ctx.now, ctx.calendar),
                    handle=order.handle.pause(ctx.now, ctx.calendar), paused_state=order.state,
                    paused_at=ctx.now, extension_requested=None)
    return after, reason, {"arbiter": arbiter.code}


def _approve_return(ctx: _Ctx) -> Outcome:
    # The arbiter takes the order onto its own queue and routes it from there (route → dispatched).
    queue = ctx.actor.unit_code or ""
    after = replace(ctx.order, unit_code=queue, tier=ctx.org.tier_of(queue), assigned_at=ctx.now, sign=Clock(),
                    handle=Clock(), paused_state=None, paused_at=None, signed_at=None)
    return after, ctx.reason, {"returned_by": ctx.order.unit_code, "queue": queue}


def _reject_return(ctx: _Ctx) -> Outcome:
    reason = ctx.need_reason("驳回退单")
    order = ctx.order
    after = replace(order, sign=order.sign.resume(ctx.now, ctx.calendar),
                    handle=order.handle.resume(ctx.now, ctx.calendar), paused_state=None, paused_at=None)
    paused_for = (ctx.now - order.paused_at).total_seconds() if order.paused_at else None
    return after, reason, {"paused_seconds": paused_for}


def _request_extension(ctx: _Ctx) -> Outcome:
    reason = ctx.need_reason("延期申请")
    order, limit = ctx.order, ctx.settings.extension_max
    ask = ctx.extension
    if ask is None or ask.amount <= 0:
        raise InvalidCommand("extension must be a positive duration")
    if ask.unit is not limit.unit:
        raise InvalidCommand(f"extension must be given in {limit.unit.value}")
    if order.handle.deadline is not None and ctx.now >= order.handle.deadline:
        raise ctx.refuse("延期须在办理期限届满前申请 (ask before the deadline)")
    if order.extension_granted + ask.amount > limit.amount:
        raise ctx.refuse(f"延期累计不得超过 {limit} (already granted {order.extension_granted:g})")
    return replace(order, extension_requested=ask), reason, {"extension": str(ask)}


def _approve_extension(ctx: _Ctx) -> Outcome:
    order = ctx.order
    asked = order.extension_requested
    assert asked is not None
    grant = ctx.extension or asked
    if grant.unit is not asked.unit or not 0 < grant.amount <= asked.amount:
        raise InvalidCommand(f"the approved extension must be positive and at most the {asked} asked for")
    handle = order.handle.extend(grant, ctx.calendar)
    after = replace(order, handle=handle, extension_requested=None,
                    extension_granted=order.extension_granted + grant.amount)
    new = handle.deadline.isoformat() if handle.deadline else None
    return after, ctx.reason, {"extension": str(grant), "handle_deadline": new}


def _refuse_extension(ctx: _Ctx) -> Outcome:
    reason = ctx.need_reason("驳回延期")
    return replace(ctx.order, extension_requested=None), reason, {"extension": str(ctx.order.extension_requested)}


def _urge(ctx: _Ctx) -> Outcome:
    return replace(ctx.order, urge_count=ctx.order.urge_count + 1), ctx.reason, {}


def _supervise(ctx: _Ctx) -> Outcome:
    return replace(ctx.order, supervised=True), ctx.reason, {}


def _warn(ctx: _Ctx) -> Outcome:
    if ctx.warning is None or ctx.warning.clock not in ("sign", "handle"):
        raise InvalidCommand("warning (clock sign|handle and level) is required")
    clock: Clock = getattr(ctx.order, ctx.warning.clock)
    if clock.deadline is None:
        raise InvalidCommand(f"the {ctx.warning.clock} clock is not running")
    mark = WarningMark(ctx.warning.clock, WarningLevel(ctx.warning.level), clock.deadline)
    if mark in ctx.order.warnings:
        raise ctx.refuse("该预警已发出 (this warning was already given)")
    after = replace(ctx.order, warnings=(*ctx.order.warnings, mark))
    return after, ctx.reason, {"clock": mark.clock, "level": mark.level.value, "deadline": mark.deadline.isoformat()}


def _escalate(ctx: _Ctx) -> Outcome:
    reason = ctx.need_reason("提级")
    order, org = ctx.order, ctx.org
    upper = org.upper_tier(order.unit_code or "")
    if upper is None:
        raise ctx.refuse("已在市级，不再提级；逾期工单由市级督办 (the city is the top: supervise instead)")
    target = upper.code
    if ctx.to_unit not in (None, target):
        raise InvalidCommand(f"escalation goes one tier up, to {target}, not to {ctx.to_unit}")
    if ctx.limits is None or ctx.limits.sign is None:
        raise InvalidCommand("a new sign-for limit is required to escalate")
    after = _send(ctx, target, restart=False, upward=True)
    after = replace(after, escalation_count=order.escalation_count + 1)
    return after, reason, {"from_unit": order.unit_code, "to_unit": target,
                           "from_tier": str(order.tier) if order.tier else None, "to_tier": str(after.tier)}


def _close(ctx: _Ctx) -> Outcome:
    if not ctx.result or not ctx.result.strip():
        raise InvalidCommand("办结须填写办理结果 (result is required)")
    if not ctx.evidence:
        raise InvalidCommand("办结须附办理依据 (evidence is required: photos, documents or a call record)")
    order = ctx.order
    on_time = order.handle.deadline is None or ctx.now <= order.handle.deadline
    after = replace(order, closed_at=ctx.now, extension_requested=None)
    return after, ctx.reason, {"result": ctx.result.strip(), "evidence": list(ctx.evidence), "on_time": on_time}


def _follow_up(ctx: _Ctx) -> Outcome:
    fu = ctx.follow_up
    if fu is None:
        raise InvalidCommand("follow_up (satisfaction, resolved, unit_at_fault) is required")
    details = {"satisfaction": fu.satisfaction.value, "resolved": fu.resolved, "unit_at_fault": fu.unit_at_fault}
    return replace(ctx.order, follow_up=fu), ctx.reason, details


def _reopen(ctx: _Ctx) -> Outcome:
    order = ctx.order
    if ctx.to_unit not in (None, order.unit_code):
        raise InvalidCommand("a reopened order goes back to the unit that handled it; reassign afterwards")
    after = _send(ctx, order.unit_code or "", restart=True)
    after = replace(after, reopen_count=order.reopen_count + 1, follow_up=None, closed_at=None,
                    extension_granted=0.0)
    return after, ctx.reason, {"follow_up": order.follow_up.satisfaction.value if order.follow_up else None}


def _archive(ctx: _Ctx) -> Outcome:
    return ctx.order, ctx.reason, {"followed_up": ctx.order.follow_up is not None}


def _merge(ctx: _Ctx) -> Outcome:
    master = ctx.master
    if master is None:
        raise InvalidCommand("master order is required")
    if master.id == ctx.order.id:
        raise InvalidCommand("an order cannot be merged into itself")
    if not can_act(ctx.actor.role, ctx.actor.unit_code, master.unit_code, ctx.org):
        # The same answer as a master that does not exist: whether an order exists is not told outside.
        raise InvalidCommand(f"no master order {master.id}")
    if not master.is_open:
        raise ctx.refuse(f"只能并入未办结的主工单 (master {master.id} is {master.state.value})")
    after = replace(ctx.order, merged_into=master.id, sign=Clock(), handle=Clock(), extension_requested=None,
                    paused_state=None, paused_at=None)
    return after, ctx.reason, {"master": master.id}


_HANDLERS = {
    Action.DISPATCH: _dispatch, Action.QUEUE: _queue, Action.ROUTE: _dispatch, Action.SIGN: _sign,
    Action.START: _start, Action.RETURN: _return, Action.APPROVE_RETURN: _approve_return,
    Action.REJECT_RETURN: _reject_return, Action.REQUEST_EXTENSION: _request_extension,
    Action.APPROVE_EXTENSION: _approve_extension, Action.REFUSE_EXTENSION: _refuse_extension,
    Action.URGE: _urge, Action.SUPERVISE: _supervise, Action.ESCALATE: _escalate, Action.WARN: _warn,
    Action.CLOSE: _close, Action.FOLLOW_UP: _follow_up, Action.REOPEN: _reopen, Action.ARCHIVE: _archive,
    Action.MERGE: _merge, Action.REASSIGN: _reassign,
}

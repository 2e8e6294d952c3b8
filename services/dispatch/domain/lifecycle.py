"""The work-order lifecycle as one state machine: `TRANSITIONS` is the only list of what may happen.

    accepted     ─dispatch→ dispatched | ─queue→ queued | ─merge→ merged
    queued       ─route→ dispatched
    dispatched   ─sign→ signed | ─return→ return_requested
    signed       ─start→ in_progress | ─close→ closed | ─return→ return_requested
    in_progress  ─close→ closed
    return_requested ─approve_return→ queued (the arbiter's) | ─reject_return→ the state it paused in
    closed       ─follow_up→ followed_up | ─archive→ archived (no follow-up possible)
    followed_up  ─archive→ archived | ─reopen→ dispatched (dissatisfied and the unit at fault)
    dispatched, signed, in_progress ─escalate / reassign→ dispatched (another unit, which must sign)
    queued, dispatched, signed, in_progress ─merge→ merged (into an open master)

Self-transitions keep the state: urge (催办), supervise (督办), warn (yellow/red), request/approve/refuse
extension (延期). Escalate (提级) and reassign (改派) move the order to another unit, which must sign for it.

Why a pending extension is a flag and not a state: the unit keeps working while the upper tier decides, and
everything else (close, escalate, urge) stays possible; a state would double every working state and hide
the real one. `Order.extension_requested` carries the request; the table still lists the actions, and
`allowed_actions` offers approve/refuse only while a request is pending.

Why `queued` and `accepted`: `queued` is the county's (or city's) manual-routing queue (属地兜底) and the
arbiter's desk after an approved return; `accepted` is an order that exists but has not been sent anywhere
yet, so creation is a transition in the table like every other. `followed_up` keeps the rating on record
before the separate decision to archive or reopen (重办), so that decision is a transition of its own.

The clock pauses while a return awaits arbitration (`return_requested`): both clocks freeze their remaining
time and restart from it if the return is rejected; an approved return clears them (the next dispatch sets
new ones).

`decide` is pure: it checks visibility (OrderNotVisible → 404), the table (ForbiddenTransition → 409 with the
current state and allowed actions), role and relation (NotPermitted → 403), the rules that depend on time or
inputs (RuleViolated → 409, InvalidCommand → 422), and returns a Decision: the order after the transition, the
event name (shared.events.catalog.ORDER_EVENT_NAMES), and the audit reason and details.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.dispatch.domain.org import OrgTree, Tier, UnitKind
from services.dispatch.domain.sla import Clock, Duration, Limits, SlaSettings, WarningLevel, WorkCalendar
from services.dispatch.domain.visibility import SYSTEM, order_scope
from shared.events.catalog import ORDER_EVENT_NAMES
from shared.events.v1 import OrderState  # the contract's vocabulary: consumers read the same names
from shared.roles import Role

OPEN_STATES = frozenset({OrderState.ACCEPTED, OrderState.QUEUED, OrderState.DISPATCHED, OrderState.SIGNED,
                         OrderState.IN_PROGRESS, OrderState.RETURN_REQUESTED})
HANDLING_STATES = frozenset({OrderState.DISPATCHED, OrderState.SIGNED, OrderState.IN_PROGRESS})


class Action(StrEnum):
    DISPATCH = "dispatch"  # 派单
    QUEUE = "queue"  # 转派单队列 (属地兜底)
    ROUTE = "route"  # 从队列派单
    SIGN = "sign"  # 签收
    START = "start"  # 开始办理
    RETURN = "return"  # 退单
    APPROVE_RETURN = "approve_return"  # 退单仲裁: 同意
    REJECT_RETURN = "reject_return"  # 退单仲裁: 驳回
    REQUEST_EXTENSION = "request_extension"  # 延期申请
    APPROVE_EXTENSION = "approve_extension"  # 延期批准
    REFUSE_EXTENSION = "refuse_extension"  # 延期驳回
    URGE = "urge"  # 催办
    SUPERVISE = "supervise"  # 督办
    ESCALATE = "escalate"  # 提级
    WARN = "warn"  # 预警
    CLOSE = "close"  # 办结
    FOLLOW_UP = "follow_up"  # 回访
    REOPEN = "reopen"  # 重办
    ARCHIVE = "archive"  # 归档
    MERGE = "merge"  # 并单
    REASSIGN = "reassign"  # 改派


class Relation(StrEnum):
    """Who, besides having the role, may take a transition."""

    SCOPE = "scope"  # anyone whose scope covers the order (checked for every action)
    HOLDER = "holder"  # only the unit holding the order (system exempt)
    UPPER_TIER = "upper_tier"  # only a county or city centre above the holder (operator and system exempt)


@dataclass(frozen=True)
class Transition:
    to_state: OrderState | None  # None: back to the state the order paused in
    roles: frozenset[str]
    event: str
    relation: Relation = Relation.SCOPE


HOLDERS = frozenset({Role.TOWN, Role.COUNTY, Role.CITY, Role.DEPARTMENT})
SUPERIORS = frozenset({Role.COUNTY, Role.CITY})
_S = OrderState
_A = Action


def _t(to: OrderState | None, roles: Iterable[str], event: str, relation: Relation = Relation.SCOPE) -> Transition:
    return Transition(to, frozenset(roles), event, relation)


def _build_table() -> dict[tuple[OrderState, Action], Transition]:
    table: dict[tuple[OrderState, Action], Transition] = {
        (_S.ACCEPTED, _A.DISPATCH): _t(_S.DISPATCHED, {SYSTEM, Role.OPERATOR}, "dispatched"),
        (_S.ACCEPTED, _A.QUEUE): _t(_S.QUEUED, {SYSTEM, Role.OPERATOR}, "queued"),
        (_S.ACCEPTED, _A.MERGE): _t(_S.MERGED, {SYSTEM, Role.OPERATOR}, "merged"),
        (_S.QUEUED, _A.ROUTE): _t(_S.DISPATCHED, SUPERIORS, "dispatched"),
        (_S.QUEUED, _A.SUPERVISE): _t(_S.QUEUED, SUPERIORS | {SYSTEM}, "supervised", Relation.UPPER_TIER),
        (_S.RETURN_REQUESTED, _A.APPROVE_RETURN): _t(_S.QUEUED, SUPERIORS, "return_approved", Relation.UPPER_TIER),
        (_S.RETURN_REQUESTED, _A.REJECT_RETURN): _t(None, SUPERIORS, "return_rejected", Relation.UPPER_TIER),
        (_S.RETURN_REQUESTED, _A.SUPERVISE): _t(_S.RETURN_REQUESTED, SUPERIORS | {SYSTEM}, "supervised",
                                                  Relation.UPPER_TIER),
        (_S.DISPATCHED, _A.SIGN): _t(_S.SIGNED, HOLDERS, "signed", Relation.HOLDER),
        (_S.SIGNED, _A.START): _t(_S.IN_PROGRESS, HOLDERS, "started", Relation.HOLDER),
        (_S.CLOSED, _A.FOLLOW_UP): _t(_S.FOLLOWED_UP, {SYSTEM, Role.OPERATOR}, "followed_up"),
        (_S.CLOSED, _A.ARCHIVE): _t(_S.ARCHIVED, {SYSTEM, Role.OPERATOR}, "archived"),
        (_S.FOLLOWED_UP, _A.ARCHIVE): _t(_S.ARCHIVED, {SYSTEM, Role.OPERATOR}, "archived"),
        (_S.FOLLOWED_UP, _A.REOPEN): _t(_S.DISPATCHED, SUPERIORS | {Role.OPERATOR}, "reopened"),
    }
    for state in (_S.DISPATCHED, _S.SIGNED):
        table[(state, _A.RETURN)] = _t(_S.RETURN_REQUESTED, HOLDERS, "returned", Relation.HOLDER)
    for state in (_S.SIGNED, _S.IN_PROGRESS):
        table[(state, _A.CLOSE)] = _t(_S.CLOSED, HOLDERS, "closed", Relation.HOLDER)
        table[(state, _A.REQUEST_EXTENSION)] = _t(state, HOLDERS, "extension_requested", Relation.HOLDER)
        table[(state, _A.APPROVE_EXTENSION)] = _t(state, SUPERIORS, "extended", Relation.UPPER_TIER)
        table[(state, _A.REFUSE_EXTENSION)] = _t(state, SUPERIORS, "extension_refused", Relation.UPPER_TIER)
    for state in HANDLING_STATES:
        table[(state, _A.ESCALATE)] = _t(_S.DISPATCHED, {SYSTEM, Role.TOWN, Role.COUNTY, Role.DEPARTMENT},
                                         "escalated", Relation.HOLDER)
        table[(state, _A.WARN)] = _t(state, {SYSTEM}, "warned")
        table[(state, _A.URGE)] = _t(state, SUPERIORS | {SYSTEM, Role.OPERATOR}, "urged", Relation.UPPER_TIER)
        table[(state, _A.SUPERVISE)] = _t(state, SUPERIORS | {SYSTEM}, "supervised", Relation.UPPER_TIER)
        table[(state, _A.REASSIGN)] = _t(_S.DISPATCHED, SUPERIORS, "reassigned")
    for state in (_S.QUEUED, *HANDLING_STATES):
        table[(state, _A.MERGE)] = _t(_S.MERGED, HOLDERS | {SYSTEM, Role.OPERATOR}, "merged")
    unknown = {t.event for t in table.values()} - set(ORDER_EVENT_NAMES)
    if unknown:
        raise RuntimeError(f"transitions name events the catalogue lacks: {sorted(unknown)}")
    return table


TRANSITIONS: dict[tuple[OrderState, Action], Transition] = _build_table()


# --- the order as the lifecycle sees it ---------------------------------------------------------------------


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


@dataclass(frozen=True)
class FollowUp:
    """The 回访 result: the caller's rating, whether the matter was resolved, whether the unit was at fault."""

    satisfaction: Satisfaction
    resolved: bool | None = None
    unit_at_fault: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "satisfaction", Satisfaction(self.satisfaction))


@dataclass(frozen=True)
class StepMark:
    """An escalation-chain step taken on an order, for the deadline it was taken for (keeps timers idempotent)."""

    step: str
    deadline: datetime | None
    at: datetime


@dataclass(frozen=True)
class DeadlineWarning:
    clock: str  # sign | handle
    level: WarningLevel


@dataclass(frozen=True)
class WarningMark:
    clock: str
    level: WarningLevel
    deadline: datetime


@dataclass(frozen=True)
class Order:
    """What the lifecycle needs to know about a work order. The service maps its row to this and back."""

    id: str
    state: OrderState
    unit_code: str | None = None  # the unit holding the order (a queue's centre while queued)
    tier: Tier | None = None
    assigned_at: datetime | None = None  # when the holder received it: return window, warning start
    sign: Clock = Clock()
    handle: Clock = Clock()
    paused_state: OrderState | None = None
    paused_at: datetime | None = None
    extension_requested: Duration | None = None  # a pending 延期 request
    extension_granted: float = 0.0  # in the unit of SlaSettings.extension_max, all approvals together
    follow_up: FollowUp | None = None
    merged_into: str | None = None
    supervised: bool = False
    urge_count: int = 0
    reopen_count: int = 0
    escalation_count: int = 0
    signed_at: datetime | None = None
    closed_at: datetime | None = None
    steps: tuple[StepMark, ...] = ()
    warnings: tuple[WarningMark, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", OrderState(self.state))
        if self.paused_state is not None:
            object.__setattr__(self, "paused_state", OrderState(self.paused_state))

    @property
    def sign_deadline(self) -> datetime | None:
        return self.sign.deadline

    @property
    def handle_deadline(self) -> datetime | None:
        return self.handle.deadline

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def extension_pending(self) -> bool:
        return self.extension_requested is not None


@dataclass(frozen=True)
class Actor:
    """Who acts: a user's role and unit, or the system (timers, consumers)."""

    subject: str
    role: str  # a Role value, or SYSTEM
    unit_code: str | None = None
    name: str | None = None  # a person's display name, for the audit trail
    kind: str = "system"  # "session": a signed-in person; "script": a minted token; "system"

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls(f"system:{component}", SYSTEM)

    @classmethod
    def of(cls, principal: Any) -> Actor:
        """The actor for an authenticated principal (shared.auth.Principal); a token without a display name is
        recorded under its subject, so every audit row names the person."""
        return cls(principal.subject, str(principal.role), principal.unit_code,
                   getattr(principal, "name", None) or principal.subject, getattr(principal, "kind", "script"))

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM


@dataclass(frozen=True)
class Decision:
    """The outcome of one allowed transition: apply `order`, emit `event`, write the audit row."""

    action: Action
    event: str
    before: Order
    order: Order
    actor: Actor
    at: datetime
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def from_state(self) -> OrderState:
        return self.before.state

    @property
    def to_state(self) -> OrderState:
        return self.order.state

    def changed(self) -> dict[str, Any]:
        """The order fields this transition changed, with their new values."""
        return {f.name: getattr(self.order, f.name) for f in fields(Order)
                if getattr(self.order, f.name) != getattr(self.before, f.name)}


# --- errors -----------------------------------------------------------------------------------------------------


class LifecycleError(Exception):
    """Base of the lifecycle's refusals; each subclass says which HTTP answer fits."""


class OrderNotVisible(LifecycleError):
    """The order lies outside the actor's scope: answer 404, as if it did not exist."""


class NotPermitted(LifecycleError):
    """The actor's role, or its relation to the holder, does not allow this (403)."""


class ForbiddenTransition(LifecycleError):
    """The action is not possible in the current state (409 with the state and the allowed actions)."""

    def __init__(self, current_state: OrderState, allowed_actions: Sequence[Action], message: str | None = None,
                 *, allowed_for_actor: Sequence[Action] | None = None) -> None:
        self.current_state = current_state
        self.allowed_actions = tuple(allowed_actions)
        self.allowed_for_actor = tuple(allowed_for_actor) if allowed_for_actor is not None else None
        super().__init__(message or f"not allowed in state {current_state.value}; allowed: "
                                    f"{', '.join(a.value for a in self.allowed_actions) or 'none'}")


class RuleViolated(ForbiddenTransition):
    """The table allows the action here, but a rule refuses it now (window passed, nothing pending...)."""


class InvalidCommand(LifecycleError, ValueError):
    """The action lacks an input it needs, or names a wrong one (422)."""


# --- scope ------------------------------------------------------------------------------------------------------

def can_act(principal_role: str, principal_unit: str | None, order_unit: str | None, org: OrgTree) -> bool:
    """Whether a principal may see and act on an order held by `order_unit` (visibility.order_scope says
    whose); False means the order must look as if it did not exist (404)."""
    return order_scope(principal_role, principal_unit, org).covers(unit_code=order_unit)


def _relation_ok(relation: Relation, order: Order, actor: Actor, org: OrgTree) -> bool:
    if relation is Relation.SCOPE or actor.is_system:
        return True
    if relation is Relation.HOLDER:
        return actor.unit_code is not None and actor.unit_code == order.unit_code
    if actor.role == Role.OPERATOR:
        return True
    return actor.unit_code is not None and order.unit_code is not None \
        and org.is_upper_tier_of(actor.unit_code, order.unit_code)


def _unavailable(order: Order, action: Action) -> str | None:
    """Why the action is not available in this order's present condition (beyond its state), if it is not."""
    if action is Action.REQUEST_EXTENSION:
        if order.extension_pending:
            return "已有待审批的延期申请 (an extension request is already pending)"
        if not order.handle.running:
            return "工单没有办理时限 (no handling deadline to extend)"
    if action in (Action.APPROVE_EXTENSION, Action.REFUSE_EXTENSION) and not order.extension_pending:
        return "没有待审批的延期申请 (no extension request pending)"
    if action is Action.REOPEN:
        fu = order.follow_up
        if fu is None or fu.satisfaction is not Satisfaction.DISSATISFIED or fu.unit_at_fault is not True:
            return "重办仅限群众不满意且承办单位有责 (reopen needs a dissatisfied caller and a unit at fault)"
    if action is Action.REJECT_RETURN and order.paused_state is None:
        return "工单未暂停 (no paused state to return to)"
    return None


def allowed_actions(order: Order, *, actor: Actor | None = None, org: OrgTree | None = None) -> tuple[Action, ...]:
    """The actions the table allows in the order's state and condition; for `actor` (with `org`), only
    those its role and relation to the holder permit."""
    if actor is not None and org is None:
        raise ValueError("allowed_actions for an actor needs the org tree")
    out = []
    for action in Action:
        transition = TRANSITIONS.get((order.state, action))
        if transition is None or _unavailable(order, action) is not None:
            continue
        if actor is not None:
            if actor.role not in transition.roles:
                continue
            if org is None or not _relation_ok(transition.relation, order, actor, org):
                continue
        out.append(action)
    return tuple(out)


# --- decide -----------------------------------------------------------------------------------------------------


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
        raise NotPermitted(f"{target} lies outside your area")
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

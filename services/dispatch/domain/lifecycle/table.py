"""The one transition table: which action may happen in which state, by whom, announcing which event."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.dispatch.domain.visibility import SYSTEM
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

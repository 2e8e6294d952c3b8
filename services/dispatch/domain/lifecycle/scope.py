"""Who may see an order, and which actions an order allows now (for an actor: which it may take)."""

from __future__ import annotations

from services.dispatch.domain.lifecycle.order import (
    Actor,
    Order,
    Satisfaction,
)
from services.dispatch.domain.lifecycle.table import (
    TRANSITIONS,
    Action,
    Relation,
)
from services.dispatch.domain.org import OrgTree
from services.dispatch.domain.visibility import order_scope
from shared.roles import Role


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

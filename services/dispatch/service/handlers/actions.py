"""People and follow-ups act on orders: one decision of the state machine per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.dispatch.adapters import repository
from services.dispatch.adapters.orm import (
    WorkOrder,
)
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import (
    Action,
    Actor,
    Decision,
    FollowUp,
    InvalidCommand,
    OrderNotVisible,
    OrderState,
    Satisfaction,
    allowed_actions,
    can_act,
    decide,
)
from services.dispatch.domain.policy import DispatchPolicy
from services.dispatch.domain.sla import CHINA_TZ, Duration, Limits
from services.dispatch.service.handlers.attachments import evidence_attachments
from services.dispatch.service.handlers.common import (
    CONSUMER_DISPOSITIONS,
    CONSUMER_FOLLOWUPS,
    PolicyHolder,
    apply_decision,
    count,
    log,
)
from shared.attachments import AttachmentStore
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import (
    AppealDisposed,
    FollowUpRecorded,
)
from shared.roles import Role


@dataclass(frozen=True)
class TakeAction:
    """A person's order to act on a work order: the action and the inputs it may need."""

    action: Action
    reason: str | None = None
    to_unit: str | None = None
    extension: Duration | None = None
    result: str | None = None
    evidence: tuple[str, ...] = ()
    follow_up: FollowUp | None = None
    master: str | None = None
    expected_version: int | None = None


@dataclass
class ActionTaken:
    """What came of a TakeAction: the order as written, the decision, and what the person may do next."""

    row: WorkOrder
    decision: Decision
    allowed: tuple[Action, ...] = field(default=())


def _limits_for(command: TakeAction, row: WorkOrder, policy: DispatchPolicy) -> Limits | None:
    if command.action in (Action.DISPATCH, Action.ROUTE, Action.REOPEN, Action.ESCALATE):
        limits = policy.limits(place=policy.place(row.town_code, row.county_code), appeal_type=row.appeal_type,
                               category_code=row.category_code, urgency=row.urgency)
        # Escalated by hand, the upper tier gets the usual time to sign; the handling deadline stays.
        return Limits(sign=limits.sign) if command.action is Action.ESCALATE else limits
    return None


async def take_action(*, uow: DispatchUnitOfWork, holder: PolicyHolder, actor: Actor, order_ref: str,
                      command: TakeAction, store: AttachmentStore | None = None) -> ActionTaken:
    """Take one lifecycle action on an order for a person (404 outside their scope, 409 when not allowed);
    evidence named `attachment:<id>` joins the order's attachments in the same transaction."""
    policy = holder.policy
    now = utcnow()
    added = await evidence_attachments(command.evidence, store=store, actor=actor, now=now)
    async with uow:
        row = await uow.orders.get(order_ref)
        if row is None or not can_act(actor.role, actor.unit_code, row.unit_code, policy.org):
            raise OrderNotVisible(f"未找到工单 {order_ref}")
        if command.expected_version is not None and command.expected_version != row.version:
            raise repository.StaleOrder(f"工单已被他人更新：{row.number} 现为第 {row.version} 版，不是第 "
                                        f"{command.expected_version} 版，请核对后重试")
        master_row = await uow.orders.get(command.master) if command.master else None
        if command.master and (master_row is None
                               or not can_act(actor.role, actor.unit_code, master_row.unit_code, policy.org)):
            # A master outside the caller's scope answers as one that does not exist (no existence oracle).
            raise InvalidCommand(f"no master order {command.master}")
        decision = decide(
            repository.to_domain(row), command.action, actor, now, org=policy.org, calendar=policy.calendar,
            settings=policy.sla.settings, to_unit=command.to_unit, limits=_limits_for(command, row, policy),
            reason=command.reason, extension=command.extension, result=command.result,
            evidence=command.evidence, follow_up=command.follow_up,
            master=repository.to_domain(master_row) if master_row is not None else None)
        held = list(row.attachments or ())
        await apply_decision(uow, row, decision, policy)
        if added:
            known = {a.get("id") for a in held}
            attachments = held + [a for a in added if a["id"] not in known]
            await uow.orders.set_attachments(row, attachments)
        if decision.action is Action.MERGE and master_row is not None:
            await uow.orders.add_duplicates(order_id=master_row.id)
        await uow.commit()
    count(decision, row)
    return ActionTaken(row, decision, allowed_actions(decision.order, actor=actor, org=policy.org))


async def handle_follow_up(event: CloudEvent[FollowUpRecorded], *, uow: DispatchUnitOfWork, holder: PolicyHolder) -> None:
    """A 回访 result: record it on the closed order, then archive it or, when the caller is dissatisfied and
    the unit was at fault, reopen it (重办)."""
    data, policy = event.data, holder.policy
    now = utcnow()
    decisions: list[Decision] = []
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_FOLLOWUPS, event_id=event.id):
            return
        row = await uow.orders.get(data.order_id)
        if row is None or row.state != OrderState.CLOSED.value:
            log.warning("follow-up for an order that is not awaiting one: ignored",
                        extra={"order_id": data.order_id, "state": row.state if row else None})
            await uow.commit()
            return
        if not data.reached or data.satisfaction is None:
            if data.outcome == "archive":  # unreachable after the hotline's last attempt: archive unrated
                decision = decide(repository.to_domain(row), Action.ARCHIVE, Actor.system("followup"), now,
                                  org=policy.org, reason="多次回访联系不上，归档 (caller unreachable)",
                                  calendar=policy.calendar, settings=policy.sla.settings)
                await apply_decision(uow, row, decision, policy)
                decisions.append(decision)
            await uow.commit()  # otherwise the hotline calls again; nothing changes here
            for d in decisions:
                count(d, row)
            return
        operator = Actor(f"operator:{data.operator}", Role.OPERATOR, name=data.operator_name or data.operator,
                         kind=data.operator_kind or "script")
        follow_up = FollowUp(Satisfaction(data.satisfaction), data.resolved, data.unit_at_fault)
        order = repository.to_domain(row)
        decision = decide(order, Action.FOLLOW_UP, operator, now, org=policy.org, follow_up=follow_up,
                          reason=data.comment, calendar=policy.calendar, settings=policy.sla.settings)
        await apply_decision(uow, row, decision, policy)
        decisions.append(decision)
        reopen = follow_up.satisfaction is Satisfaction.DISSATISFIED and follow_up.unit_at_fault is True
        if reopen:
            limits = policy.limits(place=policy.place(row.town_code, row.county_code), appeal_type=row.appeal_type,
                                   category_code=row.category_code, urgency=row.urgency)
            decision = decide(decision.order, Action.REOPEN, operator, now, org=policy.org, limits=limits,
                              reason="群众不满意且承办单位有责，重办", calendar=policy.calendar,
                              settings=policy.sla.settings)
        else:
            decision = decide(decision.order, Action.ARCHIVE, Actor.system("followup"), now, org=policy.org,
                              reason="回访完成，归档", calendar=policy.calendar, settings=policy.sla.settings)
        await apply_decision(uow, row, decision, policy)
        decisions.append(decision)
        await uow.commit()
    for d in decisions:
        count(d, row)


async def handle_appeal_disposed(event: CloudEvent[AppealDisposed], *, uow: DispatchUnitOfWork) -> None:
    """Count a hotline appeal's disposition for the rates; a linked duplicate adds to its order's count."""
    await handle_appeals_disposed([event], uow=uow)


async def handle_appeals_disposed(events: Sequence[CloudEvent[AppealDisposed]], *, uow: DispatchUnitOfWork) -> None:
    """Count a batch of dispositions in one transaction (each once, whatever NATS redelivers): one upsert for
    every (day, disposition, county) of the batch, one update per order that gained linked duplicates."""
    async with uow:
        first = await uow.first_deliveries(consumer=CONSUMER_DISPOSITIONS, event_ids=[e.id for e in events])
        counts: dict[tuple[str, str, str], int] = {}
        linked: dict[str, int] = {}
        for event in events:
            if event.id not in first:
                continue
            first.discard(event.id)  # the same event twice in one batch counts once
            data = event.data
            key = (data.occurred_at.astimezone(CHINA_TZ).date().isoformat(), data.disposition.value,
                   data.county_code or "")
            counts[key] = counts.get(key, 0) + 1
            if data.disposition.value == "linked" and data.linked_order_number:
                linked[data.linked_order_number] = linked.get(data.linked_order_number, 0) + 1
        await uow.dispositions.add(counts)
        for number, n in sorted(linked.items()):
            await uow.orders.add_duplicates(number=number, count=n)
        await uow.commit()



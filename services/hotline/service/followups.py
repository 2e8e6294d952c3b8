"""回访: the follow-up call on a closed order, recorded once per closure and told to dispatch (archive or reopen)."""

from __future__ import annotations

import uuid
from typing import Any

from services.hotline.adapters.orm import FollowUpCall
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.domain.followup import FollowUp, followup_outcome
from services.hotline.service.common import HotlineContext, RecordFollowUp
from services.hotline.service.knowledge import LOCAL_TZ
from shared.errors import Conflict, NotFound
from shared.events.catalog import FOLLOWUP_RECORDED
from shared.events.envelope import utcnow
from shared.events.v1 import FollowUpRecorded


async def record_followup(*, uow: HotlineUnitOfWork, ctx: HotlineContext, command: RecordFollowUp) -> dict[str, Any]:
    """Record a follow-up call on a closed order and tell dispatch (archive or reopen)."""
    appeal_ref, reached, resolved, satisfaction = (command.appeal_ref, command.reached, command.resolved,
                                                   command.satisfaction)
    unit_at_fault, comment, operator = command.unit_at_fault, command.comment, command.operator
    operator_name, operator_kind = command.operator_name, command.operator_kind
    followup = FollowUp(reached=reached, resolved=resolved, satisfaction=satisfaction,
                        unit_at_fault=unit_at_fault, comment=comment)
    now = utcnow()
    async with uow:
        appeal = await uow.appeals.get(appeal_ref)
        if appeal is None:
            raise NotFound(f"诉求 {appeal_ref} 不存在")
        if appeal.order_id is None or appeal.status != "closed":
            done = "已归档，不能再回访" if appeal.status == "archived" else "办结后才能回访"
            raise Conflict(f"诉求 {appeal.number} 的工单状态是 {appeal.status}：{done}")
        calls = await uow.followups.calls_on(appeal.order_id)
        if any((c.reached or c.outcome != "retry_call") and c.recorded_at >= appeal.updated_at for c in calls):
            # Dispatch has not answered the earlier rating (or the unreachable archive) yet: a second one
            # would be a double vote on an order that is being archived or reopened.
            raise Conflict(f"工单 {appeal.order_number} 已回访，等待归档或重办")
        last = calls[-1] if calls else None
        if last is not None and not last.reached and last.recorded_at >= appeal.updated_at:
            due_at = last.recorded_at + ctx.followups.retry_after
            if now < due_at:  # enforced here, in the transaction, for every client: not only the console
                raise Conflict(f"上次未接通，{due_at.astimezone(LOCAL_TZ):%m-%d %H:%M} 之后才能再次回访 "
                               f"(retry after {due_at.isoformat()})")
        failed = 0  # unanswered calls since the last answered one
        for c in reversed(calls):
            if c.reached:
                break
            failed += 1
        decision = followup_outcome(followup, failed_attempts_before=failed, policy=ctx.followups)
        call = FollowUpCall(id=str(uuid.uuid4()), appeal_id=appeal.id, order_id=appeal.order_id,
                            attempt=decision.attempt, reached=reached, resolved=resolved,
                            satisfaction=followup.satisfaction.value if followup.satisfaction else None,
                            unit_at_fault=unit_at_fault, comment=comment, outcome=decision.outcome.value,
                            operator=operator, operator_name=operator_name, recorded_at=now)
        uow.followups.add(call)
        await uow.emit(FOLLOWUP_RECORDED, FollowUpRecorded(
            order_id=appeal.order_id, followup_id=call.id, reached=reached, resolved=resolved,
            satisfaction=call.satisfaction, unit_at_fault=unit_at_fault, comment=comment, operator=operator,
            operator_name=operator_name, operator_kind=operator_kind, recorded_at=now, outcome=decision.outcome.value), subject=appeal.order_id)
        await uow.commit()
    return {"id": call.id, "appeal_number": appeal.number, "order_number": appeal.order_number,
            "attempt": call.attempt, "reached": reached, "resolved": resolved, "satisfaction": call.satisfaction,
            "unit_at_fault": unit_at_fault, "outcome": decision.outcome.value, "reason": decision.reason.value,
            "retry_after_s": decision.retry_after.total_seconds() if decision.retry_after else None,
            "operator": operator, "operator_name": operator_name, "recorded_at": now.isoformat()}

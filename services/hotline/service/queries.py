"""Read models: an appeal as the operator's screen shows it, an order's appeals (重复件), a caller's history."""

from __future__ import annotations

from typing import Any

from services.hotline.adapters.orm import Appeal
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from shared.errors import Invalid, NotFound
from shared.events.v1 import AppealDisposition
from shared.phones import mask_phone, normalise_phone


def appeal_answer(row: Appeal, *, with_phone: bool = False) -> dict[str, Any]:
    """An appeal as the operator's screen shows it; the full number only where the brief allows it."""
    data: dict[str, Any] = {
        "id": row.id, "number": row.number, "incident_id": row.incident_id, "disposition": row.disposition,
        "status": row.status, "order_id": row.order_id, "order_number": row.order_number,
        "appeal_type": row.appeal_type, "category_code": row.category_code, "urgency": row.urgency,
        "description": row.description, "address": row.address,
        "coordinates": {"lon": row.lon, "lat": row.lat} if row.lon is not None else None,
        "confidential": row.confidential, "anonymous": row.anonymous,
        "caller_phone_masked": mask_phone(row.caller_phone) if row.caller_phone else None,
        "caller_name": row.caller_name,
        "emergency_line": row.emergency_line, "scope_reason": row.scope_reason, "scope_channel": row.scope_channel,
        "scope_rule": row.scope_rule, "scope_decided_by": row.scope_decided_by,
        "linked_to": row.master_number, "linked_count": row.linked_count,
        "answer_article_id": row.answer_article_id, "answer_note": row.answer_note,
        "county_code": row.county_code, "town_code": row.town_code,
        "operator": row.operator, "operator_name": row.operator_name, "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }
    if with_phone:
        data["caller_phone"] = row.caller_phone
    return data


async def get_appeal(*, uow: HotlineUnitOfWork, appeal_ref: str) -> Appeal:
    """An appeal by id or 受理编号."""
    async with uow:
        row = await uow.appeals.get(appeal_ref)
    if row is None:
        raise NotFound(f"诉求 {appeal_ref} 不存在")
    return row


async def order_appeals(*, uow: HotlineUnitOfWork, order_ref: str) -> dict[str, Any]:
    """The master appeal of an order and every appeal linked to it (重复件 counts)."""
    async with uow:
        rows = await uow.appeals.on_order(order_ref)
        master = next((r for r in rows if r.disposition == AppealDisposition.DISPATCHED.value), None)
        if master is None:
            raise NotFound(f"热线工单 {order_ref} 不存在")
        linked = await uow.appeals.linked_to(master.number)
    return {"order_number": master.order_number, "master": appeal_answer(master), "linked_count": len(linked),
            "linked": [appeal_answer(r) for r in linked]}


async def caller_history(*, uow: HotlineUnitOfWork, phone: str, limit: int = 50) -> dict[str, Any]:
    """A caller's earlier appeals, newest first, with where each stands (the operator's screen)."""
    try:
        normal = normalise_phone(phone)
    except ValueError as exc:
        raise Invalid("phone", str(exc), where="path") from exc
    async with uow:
        total = await uow.appeals.count_by_caller(normal)
        rows = await uow.appeals.by_caller(normal, limit=limit)
    return {"caller_phone": normal, "caller_phone_masked": mask_phone(normal), "total": total,
            "appeals": [appeal_answer(r) for r in rows]}


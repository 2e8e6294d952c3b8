"""Appeals: an operator's call becomes an appeal with a disposition, written with its events in one transaction.

Only a `dispatched` appeal publishes IncidentReported; every appeal publishes AppealDisposed (no caller
identity), so dispatch and the metrics can count direct answers, hand-overs, refusals and duplicates next to
the orders. Creates that arrive together share one transaction (shared/groupcommit.py): a 201 still means
committed, and a refused request (a field-level 422) stages nothing and fails alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update

from services.hotline.adapters.orm import Appeal, KnowledgeArticle, metadata
from services.hotline.domain import appeal as appeal_domain
from services.hotline.domain.duplicates import cell_of
from services.hotline.domain.privacy import (
    caller_for_handlers,
    caller_is_protected,
    mask_phone,
    normalise_phone,
)
from services.hotline.domain.scope import OperatorChoice, ScopeKind, assess_scope
from services.hotline.service.common import (
    DISPOSITION,
    STATUS_BY_DISPOSITION,
    Created,
    HotlineContext,
    InvalidInput,
    NewAppeal,
    NotFound,
    ScopeChoice,
    field_of,
)
from services.hotline.service.duplicates import candidates as _candidates
from services.hotline.service.knowledge import to_article, today
from shared import idempotency, metrics
from shared.events.catalog import APPEAL_DISPOSED, INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import (
    AppealDisposed,
    AppealDisposition,
    Channel,
    IncidentReported,
    Location,
    Urgency,
)
from shared.groupcommit import Answer, GroupCommit
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class _Create:
    request: NewAppeal
    operator: str
    operator_unit: str
    operator_name: str | None = None


def appeal_group_commit(new_uow: Callable[[], UnitOfWork], ctx: HotlineContext, *,
                        max_group: int = 200) -> GroupCommit[_Create]:
    """The writer that lets concurrent creates share one transaction."""

    async def stage_one(uow: UnitOfWork, create: _Create) -> Answer:
        return 201, await _stage_appeal(uow, ctx, create.request, operator=create.operator,
                                        operator_unit=create.operator_unit, operator_name=create.operator_name)

    async def stage_many(uow: UnitOfWork, creates: Sequence[_Create]) -> list[Answer | Exception]:
        answers: list[Answer | Exception] = []
        for create in creates:
            try:
                answers.append(await stage_one(uow, create))
            except InvalidInput as exc:  # raised before _stage_appeal writes anything: the others go on
                answers.append(exc)
        return answers

    return GroupCommit(new_uow, metadata.tables["idempotency_key"], stage_one=stage_one, stage_many=stage_many,
                       max_group=max_group)


async def create_appeal(*, new_uow: Callable[[], UnitOfWork], ctx: HotlineContext, request: NewAppeal,
                        operator: str, operator_unit: str, idempotency_key: str | None = None,
                        fingerprint: str | None = None, operator_name: str | None = None) -> Created:
    """Record an appeal and what happens next, once per Idempotency-Key, with its events in one transaction."""
    if ctx.appeal_writer is None:
        ctx.appeal_writer = appeal_group_commit(new_uow, ctx)
    stored = await ctx.appeal_writer.submit(
        _Create(request, operator, operator_unit, operator_name), scope=f"appeals:{operator}", key=idempotency_key,
        fingerprint=fingerprint or idempotency.fingerprint(repr(request)))
    created = Created(stored.status_code, stored.body, stored.replayed)
    if not created.replayed:
        metrics.HOTLINE_DISPOSITIONS.labels(created.body["disposition"]).inc()
    return created

async def _stage_appeal(uow: UnitOfWork, ctx: HotlineContext, req: NewAppeal, *, operator: str,
                        operator_unit: str, operator_name: str | None = None) -> dict[str, Any]:
    now = utcnow()
    try:
        appeal = appeal_domain.Appeal.create(
            caller_phone=req.caller_phone, caller_name=req.caller_name, appeal_type=req.appeal_type,
            category_code=req.category_code, description=req.description, address=req.address,
            coordinates=req.coordinates, urgency=req.urgency, confidential=req.confidential,
            anonymous=req.anonymous, received_at=now)
    except ValueError as exc:
        raise InvalidInput(field_of(str(exc), "body"), str(exc)) from exc
    category = ctx.categories.get(appeal.category_code)
    if category is None:
        raise InvalidInput("category_code", f"unknown category code {appeal.category_code!r} (诉求分类代码不存在)")
    urgency = appeal.urgency or Urgency(category.default_urgency)
    try:
        choice = _operator_choice(req.scope)
        scope = assess_scope(appeal.description, category, choice, rules=ctx.scope_rules)
    except ValueError as exc:
        raise InvalidInput("scope", str(exc)) from exc

    master = await _resolve_link(uow, req.link_to_order) if req.link_to_order else None
    article = await _answer_article(uow, req.answer_article_id) if req.answer_article_id else None
    try:
        outcome = appeal_domain.decide_outcome(
            scope=scope, appeal_type=appeal.appeal_type, answered_directly=article is not None,
            linked_order=(master.order_number or master.number) if master is not None else None)
    except ValueError as exc:
        raise InvalidInput("answer_article_id", str(exc)) from exc
    disposition = DISPOSITION[outcome.disposition]

    candidates: list[dict[str, Any]] = []
    if disposition in (AppealDisposition.DISPATCHED, AppealDisposition.LINKED):
        candidates = await _candidates(uow, ctx.duplicates, phone=appeal.caller_phone,
                                       category_code=appeal.category_code, point=appeal.coordinates, now=now,
                                       exclude=master.number if master is not None else None)

    protected = caller_is_protected(appeal_type=appeal.appeal_type, confidential=appeal.confidential,
                                    anonymous=appeal.anonymous)
    description = _scrub(appeal.description, appeal.caller_phone, protected=protected)
    address = _scrub(appeal.address, appeal.caller_phone, protected=protected) if appeal.address else None
    row = Appeal(
        id=str(uuid.uuid4()), incident_id=str(uuid.uuid4()),
        number=await uow.next_number(prefix="12345", day=now.strftime("%Y%m%d"), separator="-"),
        caller_phone=appeal.caller_phone, caller_name=appeal.caller_name, appeal_type=appeal.appeal_type.value,
        category_code=appeal.category_code, description=description, address=address,
        lon=appeal.coordinates.lon if appeal.coordinates else None,
        lat=appeal.coordinates.lat if appeal.coordinates else None, urgency=urgency.value,
        cell=cell_of(appeal.coordinates.lon, appeal.coordinates.lat) if appeal.coordinates else None,
        confidential=appeal.confidential, anonymous=appeal.anonymous, disposition=disposition.value,
        status=STATUS_BY_DISPOSITION[disposition], operator=operator, operator_unit=operator_unit,
        operator_name=operator_name, emergency_line=scope.emergency_line.value if scope.emergency_line else None,
        scope_reason=scope.reason, scope_channel=scope.channel, scope_rule=scope.rule,
        scope_decided_by=scope.decided_by.value,
        answer_article_id=article.id if article is not None else None, answer_note=req.answer_note,
        created_at=now, updated_at=now,
    )
    if master is not None and disposition is AppealDisposition.LINKED:
        # A duplicate follows its master's order from now on (the order-event consumer keeps it so).
        row.master_number = master.number
        row.order_id, row.order_number, row.status = master.order_id, master.order_number, master.status
        row.order_version = master.order_version
        row.county_code, row.town_code = master.county_code, master.town_code
        await uow.session.execute(update(Appeal).where(Appeal.id == master.id)
                                  .values(linked_count=Appeal.linked_count + 1))
    if article is not None:
        await uow.session.execute(update(KnowledgeArticle).where(KnowledgeArticle.id == article.id)
                                  .values(answer_count=KnowledgeArticle.answer_count + 1))
    uow.session.add(row)

    if disposition is AppealDisposition.DISPATCHED:
        report = IncidentReported(
            incident_id=row.incident_id, channel=Channel.HOTLINE, source_ref=row.number,
            appeal_type=appeal.appeal_type, category_code=row.category_code, description=description,
            urgency=urgency, location=Location(coordinates=appeal.coordinates, address=address),
            caller=caller_for_handlers(row), confidential=row.confidential, reported_at=now)
        await uow.emit(INCIDENT_REPORTED, report, subject=row.incident_id)
    await uow.emit(APPEAL_DISPOSED, AppealDisposed(
        appeal_number=row.number, disposition=disposition, appeal_type=appeal.appeal_type,
        category_code=row.category_code, county_code=row.county_code, town_code=row.town_code,
        emergency_line=row.emergency_line, linked_order_number=row.order_number if row.master_number else None,
        linked_appeal_number=row.master_number, occurred_at=now), subject=row.number)

    answer = appeal_answer(row, with_phone=True)
    answer.update(next_step=outcome.message_zh, duplicate_candidates=candidates,
                  answer_article=({"id": article.id, "title": article.title, "body": article.body}
                                  if article is not None else None))
    return answer


def _operator_choice(choice: ScopeChoice | None) -> OperatorChoice | None:
    if choice is None:
        return None
    kind = ScopeKind(choice.kind)
    if kind is ScopeKind.IN_SCOPE:
        return OperatorChoice.in_scope()
    if kind is ScopeKind.EMERGENCY:
        if not choice.emergency_line:
            raise ValueError("an emergency hand-over must name the line: 110, 119, 120 or 122")
        return OperatorChoice.emergency(choice.emergency_line)
    return OperatorChoice.out_of_scope(choice.rule, reason=choice.reason, channel=choice.channel)


def _scrub(text: str, phone: str | None, *, protected: bool) -> str:
    """The caller's own number, read into the description by habit, leaves the hotline masked too, and
    not at all when the caller is protected (举报, 保密件, anonymous)."""
    if not phone or not text:
        return text
    digits = re.sub(r"\D", "", phone)
    # Spoken numbers get typed with spaces or dashes anywhere: 138 1234 1234, 0513-8512-3456.
    pattern = re.compile(r"(?<!\d)" + r"[\s\-]?".join(digits) + r"(?!\d)")
    return pattern.sub("[来电号码已隐藏]" if protected else mask_phone(phone), text)


async def _resolve_link(uow: UnitOfWork, ref: str) -> Appeal:
    """The master appeal of an order number or appeal number; a linked appeal resolves to its master."""
    ref = ref.strip()
    rows = (await uow.session.execute(
        select(Appeal).where(or_(Appeal.number == ref, Appeal.order_number == ref))
        .order_by(Appeal.created_at))).scalars().all()
    master = next((r for r in rows if r.disposition == AppealDisposition.DISPATCHED.value), None)
    if master is None and rows and rows[0].master_number:
        master = (await uow.session.execute(
            select(Appeal).where(Appeal.number == rows[0].master_number))).scalar_one_or_none()
    if master is None:
        raise InvalidInput("link_to_order", f"no dispatched order or appeal {ref!r} to link to (未找到可关联的工单)")
    return master


async def _answer_article(uow: UnitOfWork, article_id: str) -> KnowledgeArticle:
    row = await uow.session.get(KnowledgeArticle, article_id)
    if row is None:
        raise InvalidInput("answer_article_id", f"no knowledge article {article_id!r}")
    if not to_article(row).valid_on(today()):
        raise InvalidInput("answer_article_id", f"knowledge article {article_id!r} is not in force today (已失效)")
    return row


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


async def get_appeal(*, uow: UnitOfWork, appeal_ref: str) -> Appeal:
    """An appeal by id or 受理编号."""
    async with uow:
        row = (await uow.session.execute(
            select(Appeal).where((Appeal.id == appeal_ref) | (Appeal.number == appeal_ref)))).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no appeal {appeal_ref}")
    return row


async def order_appeals(*, uow: UnitOfWork, order_ref: str) -> dict[str, Any]:
    """The master appeal of an order and every appeal linked to it (重复件 counts)."""
    async with uow:
        rows = (await uow.session.execute(
            select(Appeal).where(or_(Appeal.order_number == order_ref, Appeal.number == order_ref,
                                     Appeal.master_number == order_ref))
            .order_by(Appeal.created_at))).scalars().all()
        master = next((r for r in rows if r.disposition == AppealDisposition.DISPATCHED.value), None)
        if master is None:
            raise NotFound(f"no hotline order {order_ref}")
        linked = (await uow.session.execute(select(Appeal).where(Appeal.master_number == master.number)
                                            .order_by(Appeal.created_at))).scalars().all()
    return {"order_number": master.order_number, "master": appeal_answer(master), "linked_count": len(linked),
            "linked": [appeal_answer(r) for r in linked]}


async def caller_history(*, uow: UnitOfWork, phone: str, limit: int = 50) -> dict[str, Any]:
    """A caller's earlier appeals, newest first, with where each stands (the operator's screen)."""
    try:
        normal = normalise_phone(phone)
    except ValueError as exc:
        raise InvalidInput("phone", str(exc)) from exc
    async with uow:
        total = (await uow.session.execute(
            select(func.count()).select_from(Appeal).where(Appeal.caller_phone == normal))).scalar_one()
        rows = (await uow.session.execute(select(Appeal).where(Appeal.caller_phone == normal)
                                          .order_by(Appeal.created_at.desc()).limit(limit))).scalars().all()
    return {"caller_phone": normal, "caller_phone_masked": mask_phone(normal), "total": total,
            "appeals": [appeal_answer(r) for r in rows]}


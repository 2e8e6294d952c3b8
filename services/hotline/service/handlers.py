"""Hotline's service layer: an operator's call becomes an appeal with a disposition; order events update it.

Each use case is one UnitOfWork transaction. Only a `dispatched` appeal publishes IncidentReported; every
appeal publishes AppealDisposed (no caller identity), so dispatch and the metrics can count direct answers,
hand-overs, refusals and duplicates next to the orders.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update

from services.hotline.adapters.orm import Appeal, FollowUpCall, KnowledgeArticle, metadata
from services.hotline.domain import appeal as appeal_domain
from services.hotline.domain.duplicates import AppealSnapshot, DuplicatePolicy, find_candidates
from services.hotline.domain.followup import FollowUp, FollowUpPolicy, followup_outcome
from services.hotline.domain.privacy import (
    caller_for_handlers,
    caller_is_protected,
    mask_phone,
    normalise_phone,
)
from services.hotline.domain.scope import DEFAULT_RULES, OperatorChoice, ScopeKind, ScopeRules, assess_scope
from services.hotline.service.knowledge import KnowledgeBase, bump_revision, to_article, today
from shared import idempotency, metrics
from shared.categories import CategoryTable
from shared.counters import next_number
from shared.events.catalog import APPEAL_DISPOSED, FOLLOWUP_RECORDED, INCIDENT_REPORTED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import (
    AppealDisposed,
    AppealDisposition,
    AppealType,
    Channel,
    Coordinates,
    FollowUpRecorded,
    IncidentReported,
    Location,
    OrderChanged,
    Urgency,
)
from shared.projection import Applied, supersedes
from shared.uow import UnitOfWork

CONSUMER_ORDERS = "hotline-orders"
CANDIDATE_SCAN_LIMIT = 200  # recent appeals looked at per duplicate check

# Where an appeal stands before (or instead of) any order event.
STATUS_BY_DISPOSITION = {
    AppealDisposition.DISPATCHED: "accepted",
    AppealDisposition.ANSWERED: "closed",
    AppealDisposition.EMERGENCY: "transferred",
    AppealDisposition.OUT_OF_SCOPE: "refused",
    AppealDisposition.LINKED: "linked",
}
_DISPOSITION = {
    appeal_domain.Disposition.DISPATCHED: AppealDisposition.DISPATCHED,
    appeal_domain.Disposition.ANSWERED_DIRECTLY: AppealDisposition.ANSWERED,
    appeal_domain.Disposition.EMERGENCY: AppealDisposition.EMERGENCY,
    appeal_domain.Disposition.OUT_OF_SCOPE: AppealDisposition.OUT_OF_SCOPE,
    appeal_domain.Disposition.LINKED: AppealDisposition.LINKED,
}


class InvalidInput(ValueError):
    """Input the schema let through but the hotline's rules refuse; names the field for a 422."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class NotFound(LookupError):
    pass


class Conflict(Exception):
    """The request is well formed but not allowed in the record's current state (409)."""


@dataclass
class HotlineContext:
    """Reference data and policies the use cases need; built once by the composition root."""

    categories: CategoryTable
    knowledge: KnowledgeBase
    scope_rules: ScopeRules = DEFAULT_RULES
    duplicates: DuplicatePolicy = field(default_factory=DuplicatePolicy)
    followups: FollowUpPolicy = field(default_factory=FollowUpPolicy)


@dataclass(frozen=True, kw_only=True)
class ScopeChoice:
    kind: str
    emergency_line: str | None = None
    rule: str | None = None
    reason: str | None = None
    channel: str | None = None


@dataclass(frozen=True, kw_only=True)
class NewAppeal:
    """An operator's create request, as parsed by the API."""

    caller_phone: str | None
    caller_name: str | None
    appeal_type: AppealType
    category_code: str
    description: str
    address: str | None
    coordinates: Coordinates | None
    urgency: Urgency | None
    confidential: bool
    anonymous: bool
    scope: ScopeChoice | None = None
    link_to_order: str | None = None
    answer_article_id: str | None = None
    answer_note: str | None = None


@dataclass(frozen=True)
class Created:
    status_code: int
    body: dict[str, Any]
    replayed: bool


# The domain's messages name the field in words; the API answers with the field's name.
_FIELD_BY_WORD = (("诉求内容", "description"), ("分类", "category_code"), ("姓名", "caller_name"),
                  ("地址", "address"), ("电话", "caller_phone"), ("诉求类型", "appeal_type"))


def _field_of(message: str, default: str) -> str:
    return next((name for word, name in _FIELD_BY_WORD if word in message), default)


# --- appeals --------------------------------------------------------------------------------------------------


async def create_appeal(*, new_uow: Callable[[], UnitOfWork], ctx: HotlineContext, request: NewAppeal,
                        operator: str, operator_unit: str, idempotency_key: str | None = None,
                        fingerprint: str | None = None) -> Created:
    """Record an appeal and what happens next, once per Idempotency-Key, with its events in one transaction."""

    async def stage(uow: UnitOfWork) -> tuple[int, dict[str, Any]]:
        return 201, await _stage_appeal(uow, ctx, request, operator=operator, operator_unit=operator_unit)

    if idempotency_key:
        stored = await idempotency.run_once(
            new_uow, metadata.tables["idempotency_key"], scope=f"appeals:{operator}", key=idempotency_key,
            fingerprint=fingerprint or idempotency.fingerprint(repr(request)), create=stage)
        created = Created(stored.status_code, stored.body, stored.replayed)
    else:
        async with new_uow() as uow:
            status_code, body = await stage(uow)
            await uow.commit()
        created = Created(status_code, body, False)
    if not created.replayed:
        metrics.HOTLINE_DISPOSITIONS.labels(created.body["disposition"]).inc()
    return created


async def _stage_appeal(uow: UnitOfWork, ctx: HotlineContext, req: NewAppeal, *, operator: str,
                        operator_unit: str) -> dict[str, Any]:
    now = utcnow()
    try:
        appeal = appeal_domain.Appeal.create(
            caller_phone=req.caller_phone, caller_name=req.caller_name, appeal_type=req.appeal_type,
            category_code=req.category_code, description=req.description, address=req.address,
            coordinates=req.coordinates, urgency=req.urgency, confidential=req.confidential,
            anonymous=req.anonymous, received_at=now)
    except ValueError as exc:
        raise InvalidInput(_field_of(str(exc), "body"), str(exc)) from exc
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
    disposition = _DISPOSITION[outcome.disposition]

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
        number=await next_number(uow.session, metadata.tables["counter"], prefix="12345",
                                 day=now.strftime("%Y%m%d"), separator="-"),
        caller_phone=appeal.caller_phone, caller_name=appeal.caller_name, appeal_type=appeal.appeal_type.value,
        category_code=appeal.category_code, description=description, address=address,
        lon=appeal.coordinates.lon if appeal.coordinates else None,
        lat=appeal.coordinates.lat if appeal.coordinates else None, urgency=urgency.value,
        confidential=appeal.confidential, anonymous=appeal.anonymous, disposition=disposition.value,
        status=STATUS_BY_DISPOSITION[disposition], operator=operator, operator_unit=operator_unit,
        emergency_line=scope.emergency_line.value if scope.emergency_line else None,
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


async def _candidates(uow: UnitOfWork, policy: DuplicatePolicy, *, phone: str | None, category_code: str,
                      point: Coordinates | None, now: datetime, exclude: str | None = None) -> list[dict[str, Any]]:
    conditions = []
    if phone:
        conditions.append(and_(Appeal.caller_phone == phone, Appeal.created_at >= now - policy.caller_window))
    if point is not None:
        # A bounding box narrows the scan in SQL; the domain measures the real distance.
        dlat = policy.radius_m / 111_320.0
        dlon = dlat / max(math.cos(math.radians(point.lat)), 0.01)
        conditions.append(and_(Appeal.category_code == category_code,
                               Appeal.created_at >= now - policy.category_window,
                               Appeal.lat.between(point.lat - dlat, point.lat + dlat),
                               Appeal.lon.between(point.lon - dlon, point.lon + dlon)))
    if not conditions:
        return []
    rows = (await uow.session.execute(
        select(Appeal).where(or_(*conditions), Appeal.disposition.in_(("dispatched", "linked")))
        .order_by(Appeal.created_at.desc()).limit(CANDIDATE_SCAN_LIMIT))).scalars().all()
    snapshots = [AppealSnapshot(order_ref=r.master_number or r.number, phone=r.caller_phone,
                                category_code=r.category_code,
                                point=Coordinates(lon=r.lon, lat=r.lat) if r.lon is not None else None,
                                at=r.created_at) for r in rows]
    new = AppealSnapshot(order_ref=exclude, phone=phone, category_code=category_code, point=point, at=now)
    found = find_candidates(new, snapshots, policy)
    if not found:
        return []
    masters = {r.number: r for r in (await uow.session.execute(
        select(Appeal).where(Appeal.number.in_([c.order_ref for c in found])))).scalars()}
    out = []
    for c in found:
        m = masters.get(c.order_ref)
        if m is None:
            continue
        out.append({"appeal_number": m.number, "order_number": m.order_number, "status": m.status,
                    "category_code": m.category_code, "description": m.description[:120],
                    "reasons": [r.value for r in c.reasons],
                    "distance_m": round(c.distance_m, 1) if c.distance_m is not None else None,
                    "at": c.at.isoformat(), "linked_count": m.linked_count})
    return out


async def find_duplicates(*, uow: UnitOfWork, ctx: HotlineContext, phone: str | None, category_code: str,
                          point: Coordinates | None) -> list[dict[str, Any]]:
    """Existing orders a call about to be recorded may duplicate (the operator's check before create)."""
    if ctx.categories.get(category_code) is None:
        raise InvalidInput("category_code", f"unknown category code {category_code!r} (诉求分类代码不存在)")
    async with uow:
        return await _candidates(uow, ctx.duplicates, phone=phone, category_code=category_code, point=point,
                                 now=utcnow())


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
        "operator": row.operator, "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
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


async def handle_order_changed(event: CloudEvent[Any], *, uow: UnitOfWork) -> None:
    """Keep the appeal and every appeal linked to it current with its order (operator's screen, follow-up)."""
    change: OrderChanged = event.data
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_ORDERS, event_id=event.id):
            return
        appeal = (await uow.session.execute(
            select(Appeal).where(Appeal.incident_id == change.incident_id))).scalar_one_or_none()
        if appeal is None:
            await uow.commit()  # an order from another channel: nothing of ours to update
            return
        if not supersedes(change, Applied(appeal.order_id, appeal.order_version)):
            await uow.commit()  # an older transition arriving late must not roll the status back
            return
        values = {"order_id": change.order_id, "order_version": change.version, "order_number": change.order_number, "status": change.to_state.value,
                  "county_code": change.county_code or appeal.county_code,
                  "town_code": change.town_code or appeal.town_code, "updated_at": utcnow()}
        await uow.session.execute(update(Appeal).where(or_(Appeal.id == appeal.id,
                                                           Appeal.master_number == appeal.number))
                                  .values(**values))
        await uow.commit()


# --- follow-up (回访) ----------------------------------------------------------------------------------------


async def record_followup(*, uow: UnitOfWork, ctx: HotlineContext, appeal_ref: str, operator: str,
                          reached: bool, resolved: bool | None, satisfaction: str | None,
                          unit_at_fault: bool | None, comment: str | None) -> dict[str, Any]:
    """Record a follow-up call on a closed order and tell dispatch (archive or reopen)."""
    try:
        followup = FollowUp(reached=reached, resolved=resolved, satisfaction=satisfaction,
                            unit_at_fault=unit_at_fault, comment=comment)
    except ValueError as exc:
        message = str(exc)
        name = ("satisfaction" if "满意度" in message else "resolved" if "解决" in message
                else "unit_at_fault" if "责任" in message else "reached")
        raise InvalidInput(name, message) from exc
    now = utcnow()
    async with uow:
        appeal = (await uow.session.execute(
            select(Appeal).where((Appeal.id == appeal_ref) | (Appeal.number == appeal_ref)))).scalar_one_or_none()
        if appeal is None:
            raise NotFound(f"no appeal {appeal_ref}")
        if appeal.order_id is None or appeal.status != "closed":
            raise Conflict(f"appeal {appeal.number}'s order is {appeal.status}: a follow-up call needs a closed "
                           "order (办结后才能回访)")
        calls = (await uow.session.execute(select(FollowUpCall).where(FollowUpCall.order_id == appeal.order_id)
                                           .order_by(FollowUpCall.recorded_at))).scalars().all()
        if any(c.reached and c.recorded_at >= appeal.updated_at for c in calls):
            # Dispatch has not answered the earlier rating yet: a second one would be a double vote.
            raise Conflict(f"a follow-up on order {appeal.order_number} was already recorded")
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
                            operator=operator, recorded_at=now)
        uow.session.add(call)
        await uow.emit(FOLLOWUP_RECORDED, FollowUpRecorded(
            order_id=appeal.order_id, followup_id=call.id, reached=reached, resolved=resolved,
            satisfaction=call.satisfaction, unit_at_fault=unit_at_fault, comment=comment, operator=operator,
            recorded_at=now, outcome=decision.outcome.value), subject=appeal.order_id)
        await uow.commit()
    return {"id": call.id, "appeal_number": appeal.number, "order_number": appeal.order_number,
            "attempt": call.attempt, "reached": reached, "resolved": resolved, "satisfaction": call.satisfaction,
            "unit_at_fault": unit_at_fault, "outcome": decision.outcome.value, "reason": decision.reason.value,
            "retry_after_s": decision.retry_after.total_seconds() if decision.retry_after else None,
            "operator": operator, "recorded_at": now.isoformat()}


# --- knowledge base (知识库) ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ArticleInput:
    category_code: str | None
    title: str
    body: str
    valid_from: date | None = None
    valid_to: date | None = None


def _check_article(ctx: HotlineContext, data: ArticleInput) -> None:
    if data.category_code is not None and ctx.categories.get(data.category_code) is None:
        raise InvalidInput("category_code", f"unknown category code {data.category_code!r}")
    if data.valid_from and data.valid_to and data.valid_to < data.valid_from:
        raise InvalidInput("valid_to", "valid_to is before valid_from")
    if not appeal_domain.clean_text(data.title):
        raise InvalidInput("title", "the title is empty")
    if not appeal_domain.clean_text(data.body):
        raise InvalidInput("body", "the text is empty")


async def create_article(*, uow: UnitOfWork, ctx: HotlineContext, data: ArticleInput, editor: str) -> KnowledgeArticle:
    """Add a knowledge-base article; the search index has it as soon as this returns."""
    _check_article(ctx, data)
    now = utcnow()
    async with uow:
        row = KnowledgeArticle(id=str(uuid.uuid4()), category_code=data.category_code, title=data.title.strip(),
                               body=data.body.strip(), valid_from=data.valid_from, valid_to=data.valid_to,
                               updated_by=editor, created_at=now, updated_at=now)
        uow.session.add(row)
        revision = await bump_revision(uow.session)
        await uow.commit()
    ctx.knowledge.applied(revision, put=to_article(row))
    return row


async def update_article(*, uow: UnitOfWork, ctx: HotlineContext, article_id: str, data: ArticleInput,
                         editor: str) -> KnowledgeArticle:
    """Replace an article's fields; the index is updated with it."""
    _check_article(ctx, data)
    async with uow:
        row = await uow.session.get(KnowledgeArticle, article_id)
        if row is None:
            raise NotFound(f"no knowledge article {article_id}")
        row.category_code, row.title, row.body = data.category_code, data.title.strip(), data.body.strip()
        row.valid_from, row.valid_to, row.updated_by, row.updated_at = (data.valid_from, data.valid_to, editor,
                                                                        utcnow())
        revision = await bump_revision(uow.session)
        await uow.commit()
    ctx.knowledge.applied(revision, put=to_article(row))
    return row


async def delete_article(*, uow: UnitOfWork, ctx: HotlineContext, article_id: str) -> None:
    """Remove an article (appeals answered from it keep its id)."""
    async with uow:
        result = await uow.session.execute(delete(KnowledgeArticle).where(KnowledgeArticle.id == article_id))
        if not result.rowcount:
            raise NotFound(f"no knowledge article {article_id}")
        revision = await bump_revision(uow.session)
        await uow.commit()
    ctx.knowledge.applied(revision, drop=article_id)


async def get_article(*, uow: UnitOfWork, article_id: str) -> KnowledgeArticle:
    """One article."""
    async with uow:
        row = await uow.session.get(KnowledgeArticle, article_id)
    if row is None:
        raise NotFound(f"no knowledge article {article_id}")
    return row


async def list_articles(*, uow: UnitOfWork, category: str | None, offset: int, limit: int) -> list[KnowledgeArticle]:
    """Articles by category prefix, most recently edited first."""
    async with uow:
        query = select(KnowledgeArticle).order_by(KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id)
        if category:
            query = query.where(KnowledgeArticle.category_code.startswith(category))
        return list((await uow.session.execute(query.offset(offset).limit(limit))).scalars().all())


def search_articles(*, ctx: HotlineContext, query: str, category: str | None,
                          limit: int) -> list[dict[str, Any]]:
    """Ranked articles in force today for the operator's words."""
    hits = ctx.knowledge.search(query, category=category, limit=limit)
    out = []
    for hit in hits:
        article = ctx.knowledge.index.get(hit.article_id)
        if article is None:
            continue
        out.append({"id": hit.article_id, "title": article.title, "category_code": article.category_code,
                    "score": hit.score, "snippet": hit.snippet})
    return out

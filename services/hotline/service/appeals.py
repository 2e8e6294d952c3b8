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
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from services.hotline.adapters.appeals_repository import COLUMNS
from services.hotline.adapters.orm import Appeal, KnowledgeArticle, metadata
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.domain import appeal as appeal_domain
from services.hotline.domain.duplicates import cell_of
from services.hotline.domain.privacy import caller_for_handlers, caller_is_protected
from services.hotline.domain.scope import OperatorChoice, ScopeKind, assess_scope
from services.hotline.service.common import (
    DISPOSITION,
    STATUS_BY_DISPOSITION,
    CreateAppeal,
    Created,
    HotlineContext,
    ScopeChoice,
)
from services.hotline.service.duplicates import DuplicateQuery, candidates_for_group
from services.hotline.service.knowledge import to_article, today
from services.hotline.service.queries import appeal_answer
from shared import idempotency, metrics
from shared.errors import Invalid
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
from shared.phones import mask_phone

_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class _Create:
    command: CreateAppeal
    operator: str
    operator_unit: str
    operator_name: str | None = None


@dataclass
class _Prepared:
    """An appeal that passed every check, with what its staging needs; nothing of it is written yet."""

    create: _Create
    appeal: appeal_domain.Appeal
    urgency: Urgency
    scope: Any
    master: Appeal | None
    article: KnowledgeArticle | None
    message: str
    disposition: AppealDisposition


def appeal_group_commit(new_uow: Callable[[], HotlineUnitOfWork], ctx: HotlineContext, *,
                        max_group: int = 200) -> GroupCommit[_Create]:
    """The writer that lets concurrent creates share one transaction."""

    async def stage_one(uow: HotlineUnitOfWork, create: _Create) -> Answer:
        [answer] = await _stage_appeals(uow, ctx, [create])
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def stage_many(uow: HotlineUnitOfWork, creates: Sequence[_Create]) -> list[Answer | Exception]:
        return await _stage_appeals(uow, ctx, creates)

    return GroupCommit(new_uow, metadata.tables["idempotency_key"], stage_one=stage_one, stage_many=stage_many,
                       max_group=max_group)


async def create_appeal(*, new_uow: Callable[[], HotlineUnitOfWork], ctx: HotlineContext, command: CreateAppeal,
                        operator: str, operator_unit: str, idempotency_key: str | None = None,
                        fingerprint: str | None = None, operator_name: str | None = None) -> Created:
    """Record an appeal and what happens next, once per Idempotency-Key, with its events in one transaction."""
    if ctx.appeal_writer is None:
        ctx.appeal_writer = appeal_group_commit(new_uow, ctx)
    stored = await ctx.appeal_writer.submit(
        _Create(command, operator, operator_unit, operator_name), scope=f"appeals:{operator}", key=idempotency_key,
        fingerprint=fingerprint or idempotency.fingerprint(repr(command)))
    created = Created(stored.status_code, stored.body, stored.replayed)
    if not created.replayed:
        metrics.HOTLINE_DISPOSITIONS.labels(created.body["disposition"]).inc()
    return created


async def _stage_appeals(uow: HotlineUnitOfWork, ctx: HotlineContext, creates: Sequence[_Create]) -> list[Answer | Exception]:
    """Stage a group of creates with a fixed number of statements: the duplicate check in two reads, the
    numbers in one, the rows and events in one multi-row INSERT each. A refused create (`Invalid`) is
    refused before anything is written, so the others go on."""
    now = utcnow()
    answers: list[Answer | Exception] = []
    prepared: list[_Prepared] = []
    for create in creates:
        try:
            prepared.append(await _prepare(uow, ctx, create))
            answers.append((201, {}))
        except Invalid as refused:  # this create alone is answered with its refusal; the group goes on
            answers.append(refused)
    if not prepared:
        return answers
    numbers = await uow.take_numbers(prefix="12345", day=now.strftime("%Y%m%d"), count=len(prepared), separator="-")
    rows = [_row(p, number, now) for p, number in zip(prepared, numbers, strict=True)]
    checks = [DuplicateQuery(phone=p.appeal.caller_phone, category_code=p.appeal.category_code,
                             point=p.appeal.coordinates, exclude=p.master.number if p.master is not None else None)
              if p.disposition in (AppealDisposition.DISPATCHED, AppealDisposition.LINKED) else None
              for p in prepared]
    candidates = await candidates_for_group(uow, ctx.duplicates, checks, rows, now=now)
    bodies = iter(n for n, a in enumerate(answers) if not isinstance(a, Exception))
    for p, row, found in zip(prepared, rows, candidates, strict=True):
        answers[next(bodies)] = (201, await _stage_row(uow, p, row, found, now))
    return answers


async def _prepare(uow: HotlineUnitOfWork, ctx: HotlineContext, create: _Create) -> _Prepared:
    req = create.command
    appeal = appeal_domain.Appeal.create(
        caller_phone=req.caller_phone, caller_name=req.caller_name, appeal_type=req.appeal_type,
        category_code=req.category_code, description=req.description, address=req.address,
        coordinates=req.coordinates, urgency=req.urgency, confidential=req.confidential,
        anonymous=req.anonymous, received_at=utcnow())
    category = ctx.categories.get(appeal.category_code)
    if category is None:
        raise Invalid("category_code", f"诉求分类代码不存在：{appeal.category_code!r} (unknown category code)")
    try:
        scope = assess_scope(appeal.description, category, _operator_choice(req.scope), rules=ctx.scope_rules)
    except ValueError as exc:  # a rule code the city's own rule table does not have
        raise Invalid("scope", f"不予受理的规则不存在：{exc}") from exc
    master = await _resolve_link(uow, req.link_to_order) if req.link_to_order else None
    article = await _answer_article(uow, req.answer_article_id) if req.answer_article_id else None
    outcome = appeal_domain.decide_outcome(
        scope=scope, appeal_type=appeal.appeal_type, answered_directly=article is not None,
        linked_order=(master.order_number or master.number) if master is not None else None)
    return _Prepared(create, appeal, appeal.urgency or Urgency(category.default_urgency), scope, master, article,
                     outcome.message_zh, DISPOSITION[outcome.disposition])


def _row(p: _Prepared, number: str, now: datetime) -> SimpleNamespace:
    """The appeal's row as plain values (an ORM object costs more to build than the rest of the create)."""
    appeal, scope, disposition = p.appeal, p.scope, p.disposition
    protected = caller_is_protected(appeal_type=appeal.appeal_type, confidential=appeal.confidential,
                                    anonymous=appeal.anonymous)
    point = appeal.coordinates
    row = dict.fromkeys(COLUMNS)
    row.update(
        id=str(uuid.uuid4()), incident_id=str(uuid.uuid4()), number=number,
        caller_phone=appeal.caller_phone, caller_name=appeal.caller_name, appeal_type=appeal.appeal_type.value,
        category_code=appeal.category_code,
        description=_scrub(appeal.description, appeal.caller_phone, protected=protected),
        address=_scrub(appeal.address, appeal.caller_phone, protected=protected) if appeal.address else None,
        lon=point.lon if point else None, lat=point.lat if point else None, urgency=p.urgency.value,
        cell=cell_of(point.lon, point.lat) if point else None,
        confidential=appeal.confidential, anonymous=appeal.anonymous, disposition=disposition.value,
        status=STATUS_BY_DISPOSITION[disposition], operator=p.create.operator,
        operator_unit=p.create.operator_unit, operator_name=p.create.operator_name,
        emergency_line=scope.emergency_line.value if scope.emergency_line else None,
        scope_reason=scope.reason, scope_channel=scope.channel, scope_rule=scope.rule,
        scope_decided_by=scope.decided_by.value,
        answer_article_id=p.article.id if p.article is not None else None, answer_note=p.create.command.answer_note,
        created_at=now, updated_at=now, linked_count=0, order_version=0,
    )
    master = p.master
    if master is not None and disposition is AppealDisposition.LINKED:
        # A duplicate follows its master's order from now on (the order-event consumer keeps it so).
        row.update(master_number=master.number, order_id=master.order_id, order_number=master.order_number,
                   status=master.status, order_version=master.order_version, county_code=master.county_code,
                   town_code=master.town_code)
    return SimpleNamespace(**row)


async def _stage_row(uow: HotlineUnitOfWork, p: _Prepared, row: SimpleNamespace, candidates: list[dict[str, Any]],
                     now: datetime) -> dict[str, Any]:
    if row.master_number is not None and p.master is not None:
        await uow.appeals.count_linked(p.master.id)
    if p.article is not None:
        await uow.knowledge.count_answer(p.article.id)
    uow.appeals.add(vars(row))  # staged: the group's rows go in one multi-row INSERT at commit
    appeal = p.appeal
    if p.disposition is AppealDisposition.DISPATCHED:
        report = IncidentReported(
            incident_id=row.incident_id, channel=Channel.HOTLINE, source_ref=row.number,
            appeal_type=appeal.appeal_type, category_code=row.category_code, description=row.description,
            urgency=p.urgency, location=Location(coordinates=appeal.coordinates, address=row.address),
            caller=caller_for_handlers(row), confidential=row.confidential, reported_at=now)
        await uow.emit(INCIDENT_REPORTED, report, subject=row.incident_id)
    await uow.emit(APPEAL_DISPOSED, AppealDisposed(
        appeal_number=row.number, disposition=p.disposition, appeal_type=appeal.appeal_type,
        category_code=row.category_code, county_code=row.county_code, town_code=row.town_code,
        emergency_line=row.emergency_line, linked_order_number=row.order_number if row.master_number else None,
        linked_appeal_number=row.master_number, occurred_at=now), subject=row.number)
    answer = appeal_answer(row, with_phone=True)
    answer.update(next_step=p.message, duplicate_candidates=candidates,
                  answer_article=({"id": p.article.id, "title": p.article.title, "body": p.article.body}
                                  if p.article is not None else None))
    return answer


def _operator_choice(choice: ScopeChoice | None) -> OperatorChoice | None:
    if choice is None:
        return None
    kind = ScopeKind(choice.kind)
    if kind is ScopeKind.IN_SCOPE:
        return OperatorChoice.in_scope()
    if kind is ScopeKind.EMERGENCY:
        if not choice.emergency_line:
            raise Invalid("scope", "转紧急热线须指明 110、119、120 或 122 (an emergency hand-over must name the line)")
        return OperatorChoice.emergency(choice.emergency_line)
    return OperatorChoice.out_of_scope(choice.rule, reason=choice.reason, channel=choice.channel)


def _scrub(text: str, phone: str | None, *, protected: bool) -> str:
    """The caller's own number, read into the description by habit, leaves the hotline masked too, and
    not at all when the caller is protected (举报, 保密件, anonymous)."""
    if not phone or not text:
        return text
    digits = re.sub(r"\D", "", phone)
    if len(_DIGIT.findall(text)) < len(digits):  # most texts: no number this long, no pattern to compile
        return text
    # Spoken numbers get typed with spaces or dashes anywhere: 138 1234 1234, 0513-8512-3456.
    pattern = re.compile(r"(?<!\d)" + r"[\s\-]?".join(digits) + r"(?!\d)")
    return pattern.sub("[来电号码已隐藏]" if protected else mask_phone(phone), text)


async def _resolve_link(uow: HotlineUnitOfWork, ref: str) -> Appeal:
    """The master appeal of an order number or appeal number; a linked appeal resolves to its master."""
    ref = ref.strip()
    rows = await uow.appeals.by_number_or_order(ref)
    master = next((r for r in rows if r.disposition == AppealDisposition.DISPATCHED.value), None)
    if master is None and rows and rows[0].master_number:
        master = await uow.appeals.by_number(rows[0].master_number)
    if master is None:
        raise Invalid("link_to_order", f"未找到可关联的工单：{ref!r} (no dispatched order or appeal to link to)")
    return master


async def _answer_article(uow: HotlineUnitOfWork, article_id: str) -> KnowledgeArticle:
    row = await uow.knowledge.get(article_id)
    if row is None:
        raise Invalid("answer_article_id", f"知识库条目不存在：{article_id!r} (no such knowledge article)")
    if not to_article(row).valid_on(today()):
        raise Invalid("answer_article_id", f"知识库条目已失效：{article_id!r} (not in force today)")
    return row

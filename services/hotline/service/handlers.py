"""Hotline's service layer: the order-event consumer, follow-up calls and the knowledge base.

Appeals live in `appeals.py` and duplicate checks in `duplicates.py`; their names are re-exported here so
the entrypoints keep one module to call. Each use case is one UnitOfWork transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update

from services.hotline.adapters.orm import Appeal, FollowUpCall, KnowledgeArticle
from services.hotline.domain import appeal as appeal_domain
from services.hotline.domain.followup import FollowUp, followup_outcome
from services.hotline.service.appeals import appeal_group_commit, create_appeal  # noqa: F401 - re-exported
from services.hotline.service.common import (  # noqa: F401 - re-exported for the entrypoints
    STATUS_BY_DISPOSITION,
    Conflict,
    Created,
    HotlineContext,
    InvalidInput,
    NewAppeal,
    NotFound,
    ScopeChoice,
)
from services.hotline.service.duplicates import CANDIDATE_SCAN_LIMIT, find_duplicates  # noqa: F401
from services.hotline.service.knowledge import LOCAL_TZ, bump_revision, to_article
from services.hotline.service.reads import (  # noqa: F401 - re-exported for the entrypoints
    appeal_answer,
    caller_history,
    get_appeal,
    order_appeals,
)
from shared.events.catalog import FOLLOWUP_RECORDED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import FollowUpRecorded, OrderChanged, OrderState
from shared.projection import Applied, supersedes
from shared.uow import UnitOfWork

CONSUMER_ORDERS = "hotline-orders"


async def handle_order_changed(event: CloudEvent[Any], *, uow: UnitOfWork) -> None:
    """Keep the appeal and every appeal linked to it current with its order (operator's screen, follow-up)."""
    await handle_orders_changed([event], uow=uow)


async def handle_orders_changed(events: list[CloudEvent[Any]], *, uow: UnitOfWork) -> None:
    """A fetched batch of order events in one transaction: each applied as `handle_order_changed` would."""
    async with uow:
        fresh = await uow.first_deliveries(consumer=CONSUMER_ORDERS, event_ids=[e.id for e in events])
        changes: list[OrderChanged] = [e.data for e in events if e.id in fresh]
        incident_ids = sorted({c.incident_id for c in changes})
        held = {r.incident_id: (r.id, r.number, Applied(r.order_id, r.order_version), r.county_code, r.town_code)
                for r in (await uow.session.execute(
                    select(Appeal.incident_id, Appeal.id, Appeal.number, Appeal.order_id, Appeal.order_version,
                           Appeal.county_code, Appeal.town_code)
                    .where(Appeal.incident_id.in_(incident_ids)))).all()} if incident_ids else {}
        now = utcnow()
        latest: dict[str, dict[str, Any]] = {}  # appeal id -> what its row (and its duplicates') becomes
        for change in changes:  # in delivery order; a later event of the batch sees what an earlier one applied
            if change.incident_id not in held:
                continue  # an order from another channel: nothing of ours to update
            appeal_id, number, applied, county, town = held[change.incident_id]
            if not supersedes(change, applied):
                continue  # an older transition arriving late must not roll the status back
            county, town = change.county_code or county, change.town_code or town
            latest[appeal_id] = {"b_id": appeal_id, "b_number": number, "v_order_id": change.order_id,
                                 "v_order_version": change.version, "v_order_number": change.order_number,
                                 "v_status": change.to_state.value, "v_county_code": county, "v_town_code": town,
                                 "v_updated_at": now}
            held[change.incident_id] = (appeal_id, number, Applied(change.order_id, change.version), county, town)
            if change.to_state is OrderState.MERGED and change.details.get("master"):
                await _write_latest(uow, latest)  # what came before the merge, then the merge
                await _link_merged(uow, appeal_id=appeal_id, number=number, master_order_id=change.details["master"],
                                   now=now)
        await _write_latest(uow, latest)
        await uow.commit()


_ORDER_COLUMNS = ("order_id", "order_version", "order_number", "status", "county_code", "town_code", "updated_at")


async def _write_latest(uow: UnitOfWork, latest: dict[str, dict[str, Any]]) -> None:
    """Each appeal's newest order values (and its duplicates'), in one executemany UPDATE (Core, not the ORM's
    bulk path); `latest` is emptied."""
    if not latest:
        return
    table = Appeal.__table__  # type: ignore[attr-defined]
    await uow.session.execute(
        update(table).where(or_(table.c.id == bindparam("b_id"), table.c.master_number == bindparam("b_number")))
        .values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in _ORDER_COLUMNS}), [latest[k] for k in sorted(latest)])
    latest.clear()


async def _link_merged(uow: UnitOfWork, *, appeal_id: str, number: str, master_order_id: str, now: Any) -> None:
    """Dispatch merged this appeal's order into another (并单): link the appeal, and those linked to it, to
    the master order's appeal, as a link made at the call would. A master from another channel has no
    appeal here: the appeal then just shows `merged`."""
    master = (await uow.session.execute(
        select(Appeal).where(Appeal.order_id == master_order_id, Appeal.master_number.is_(None),
                             Appeal.id != appeal_id).order_by(Appeal.created_at).limit(1))).scalar_one_or_none()
    if master is None:
        return
    moved = await uow.session.execute(
        update(Appeal).where(or_(Appeal.id == appeal_id, Appeal.master_number == number))
        .values(master_number=master.number, order_id=master.order_id, order_number=master.order_number,
                order_version=master.order_version, status=master.status, county_code=master.county_code,
                town_code=master.town_code, updated_at=now))
    await uow.session.execute(update(Appeal).where(Appeal.id == master.id)
                              .values(linked_count=Appeal.linked_count + moved.rowcount))
    await uow.session.execute(update(Appeal).where(Appeal.id == appeal_id).values(linked_count=0))


# --- follow-up (回访) ----------------------------------------------------------------------------------------


async def record_followup(*, uow: UnitOfWork, ctx: HotlineContext, appeal_ref: str, operator: str,
                          reached: bool, resolved: bool | None, satisfaction: str | None,
                          unit_at_fault: bool | None, comment: str | None, operator_name: str | None = None,
                          operator_kind: str | None = None) -> dict[str, Any]:
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
            raise NotFound(f"诉求 {appeal_ref} 不存在")
        if appeal.order_id is None or appeal.status != "closed":
            done = "已归档，不能再回访" if appeal.status == "archived" else "办结后才能回访"
            raise Conflict(f"诉求 {appeal.number} 的工单状态是 {appeal.status}：{done}")
        calls = (await uow.session.execute(select(FollowUpCall).where(FollowUpCall.order_id == appeal.order_id)
                                           .order_by(FollowUpCall.recorded_at))).scalars().all()
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
        uow.session.add(call)
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
            raise NotFound(f"知识库条目 {article_id} 不存在")
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
            raise NotFound(f"知识库条目 {article_id} 不存在")
        revision = await bump_revision(uow.session)
        await uow.commit()
    ctx.knowledge.applied(revision, drop=article_id)


async def get_article(*, uow: UnitOfWork, article_id: str) -> KnowledgeArticle:
    """One article."""
    async with uow:
        row = await uow.session.get(KnowledgeArticle, article_id)
    if row is None:
        raise NotFound(f"知识库条目 {article_id} 不存在")
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

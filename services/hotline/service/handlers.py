"""Hotline's service layer: the order-event consumer, follow-up calls and the knowledge base.

Appeals live in `appeals.py` and duplicate checks in `duplicates.py`; their names are re-exported here so
the entrypoints keep one module to call. Each use case is one UnitOfWork transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.hotline.adapters.appeals_repository import ORDER_COLUMNS
from services.hotline.adapters.orm import FollowUpCall, KnowledgeArticle
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.domain import appeal as appeal_domain
from services.hotline.domain.followup import FollowUp, followup_outcome
from services.hotline.service.appeals import appeal_group_commit, create_appeal  # noqa: F401 - re-exported
from services.hotline.service.common import (  # noqa: F401 - re-exported for the entrypoints
    STATUS_BY_DISPOSITION,
    CreateAppeal,
    Created,
    HotlineContext,
    RecordFollowUp,
    ScopeChoice,
)
from services.hotline.service.duplicates import CANDIDATE_SCAN_LIMIT, find_duplicates  # noqa: F401
from services.hotline.service.knowledge import LOCAL_TZ, to_article
from services.hotline.service.reads import (  # noqa: F401 - re-exported for the entrypoints
    appeal_answer,
    caller_history,
    get_appeal,
    order_appeals,
)
from shared.errors import Conflict, Invalid, NotFound
from shared.events.catalog import FOLLOWUP_RECORDED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import FollowUpRecorded, OrderChanged, OrderState
from shared.projection import Applied, supersedes

CONSUMER_ORDERS = "hotline-orders"


async def handle_order_changed(event: CloudEvent[Any], *, uow: HotlineUnitOfWork) -> None:
    """Keep the appeal and every appeal linked to it current with its order (operator's screen, follow-up)."""
    await handle_orders_changed([event], uow=uow)


async def handle_orders_changed(events: list[CloudEvent[Any]], *, uow: HotlineUnitOfWork) -> None:
    """A fetched batch of order events in one transaction: each applied as `handle_order_changed` would."""
    async with uow:
        fresh = await uow.first_deliveries(consumer=CONSUMER_ORDERS, event_ids=[e.id for e in events])
        changes: list[OrderChanged] = [e.data for e in events if e.id in fresh]
        incident_ids = sorted({c.incident_id for c in changes})
        held = {r.incident_id: (r.id, r.number, Applied(r.order_id, r.order_version), r.county_code, r.town_code)
                for r in await uow.appeals.order_followers(incident_ids)}
        now = utcnow()
        latest: dict[str, dict[str, Any]] = {}  # appeal id -> what its row (and its duplicates') becomes
        for change in changes:  # in delivery order; a later event of the batch sees what an earlier one applied
            if change.incident_id not in held:
                continue  # an order from another channel: nothing of ours to update
            appeal_id, number, applied, county, town = held[change.incident_id]
            if not supersedes(change, applied):
                continue  # an older transition arriving late must not roll the status back
            county, town = change.county_code or county, change.town_code or town
            values = {"order_id": change.order_id, "order_version": change.version,
                      "order_number": change.order_number, "status": change.to_state.value, "county_code": county,
                      "town_code": town, "updated_at": now}
            latest[appeal_id] = {"b_id": appeal_id, "b_number": number} | {f"v_{c}": values[c] for c in ORDER_COLUMNS}
            held[change.incident_id] = (appeal_id, number, Applied(change.order_id, change.version), county, town)
            if change.to_state is OrderState.MERGED and change.details.get("master"):
                await _write_latest(uow, latest)  # what came before the merge, then the merge
                await _link_merged(uow, appeal_id=appeal_id, number=number, master_order_id=change.details["master"],
                                   now=now)
        await _write_latest(uow, latest)
        await uow.commit()


async def _write_latest(uow: HotlineUnitOfWork, latest: dict[str, dict[str, Any]]) -> None:
    """Each appeal's newest order values (and its duplicates'), in one statement; `latest` is emptied."""
    await uow.appeals.write_order_values([latest[k] for k in sorted(latest)])
    latest.clear()


async def _link_merged(uow: HotlineUnitOfWork, *, appeal_id: str, number: str, master_order_id: str, now: Any) -> None:
    """Dispatch merged this appeal's order into another (并单): link the appeal, and those linked to it, to
    the master order's appeal, as a link made at the call would. A master from another channel has no
    appeal here: the appeal then just shows `merged`."""
    master = await uow.appeals.master_of_order(master_order_id, besides=appeal_id)
    if master is None:
        return
    await uow.appeals.move_under(master, appeal_id=appeal_id, number=number, now=now)


# --- follow-up (回访) ----------------------------------------------------------------------------------------


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


# --- knowledge base (知识库) ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WriteArticle:
    category_code: str | None
    title: str
    body: str
    valid_from: date | None = None
    valid_to: date | None = None


def _check_article(ctx: HotlineContext, data: WriteArticle) -> None:
    if data.category_code is not None and ctx.categories.get(data.category_code) is None:
        raise Invalid("category_code", f"诉求分类代码不存在：{data.category_code!r} (unknown category code)")
    if data.valid_from and data.valid_to and data.valid_to < data.valid_from:
        raise Invalid("valid_to", "失效日期早于生效日期 (valid_to is before valid_from)")
    if not appeal_domain.clean_text(data.title):
        raise Invalid("title", "标题不能为空 (the title is empty)")
    if not appeal_domain.clean_text(data.body):
        raise Invalid("body", "正文不能为空 (the text is empty)")


async def create_article(*, uow: HotlineUnitOfWork, ctx: HotlineContext, data: WriteArticle, editor: str) -> KnowledgeArticle:
    """Add a knowledge-base article; the search index has it as soon as this returns."""
    _check_article(ctx, data)
    now = utcnow()
    async with uow:
        row = KnowledgeArticle(id=str(uuid.uuid4()), category_code=data.category_code, title=data.title.strip(),
                               body=data.body.strip(), valid_from=data.valid_from, valid_to=data.valid_to,
                               updated_by=editor, created_at=now, updated_at=now)
        uow.knowledge.add(row)
        revision = await uow.knowledge.bump_revision()
        await uow.commit()
    ctx.knowledge.applied(revision, put=to_article(row))
    return row


async def update_article(*, uow: HotlineUnitOfWork, ctx: HotlineContext, article_id: str, data: WriteArticle,
                         editor: str) -> KnowledgeArticle:
    """Replace an article's fields; the index is updated with it."""
    _check_article(ctx, data)
    async with uow:
        row = await uow.knowledge.get(article_id)
        if row is None:
            raise NotFound(f"知识库条目 {article_id} 不存在")
        row.category_code, row.title, row.body = data.category_code, data.title.strip(), data.body.strip()
        row.valid_from, row.valid_to, row.updated_by, row.updated_at = (data.valid_from, data.valid_to, editor,
                                                                        utcnow())
        revision = await uow.knowledge.bump_revision()
        await uow.commit()
    ctx.knowledge.applied(revision, put=to_article(row))
    return row


async def delete_article(*, uow: HotlineUnitOfWork, ctx: HotlineContext, article_id: str) -> None:
    """Remove an article (appeals answered from it keep its id)."""
    async with uow:
        if not await uow.knowledge.delete(article_id):
            raise NotFound(f"知识库条目 {article_id} 不存在")
        revision = await uow.knowledge.bump_revision()
        await uow.commit()
    ctx.knowledge.applied(revision, drop=article_id)


async def get_article(*, uow: HotlineUnitOfWork, article_id: str) -> KnowledgeArticle:
    """One article."""
    async with uow:
        row = await uow.knowledge.get(article_id)
    if row is None:
        raise NotFound(f"知识库条目 {article_id} 不存在")
    return row


async def list_articles(*, uow: HotlineUnitOfWork, category: str | None, offset: int, limit: int) -> list[KnowledgeArticle]:
    """Articles by category prefix, most recently edited first."""
    async with uow:
        return await uow.knowledge.listed(category=category, offset=offset, limit=limit)


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

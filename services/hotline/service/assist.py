"""What the operator console asks while a call is under way: suggestions, scope, location, follow-up list.

The console's routes call these and the same handlers as the JSON API; nothing here writes (the retry
spacing of follow-up calls is enforced by `handlers.record_followup`, for the console and the API alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.hotline.adapters.grid_client import GridClient
from services.hotline.adapters.unit_of_work import HotlineUnitOfWork
from services.hotline.domain.scope import assess_scope
from services.hotline.domain.suggest import CategorySuggester, Suggestion
from services.hotline.service import handlers
from shared.events.envelope import utcnow


def suggest_categories(*, suggester: CategorySuggester, description: str, limit: int = 3) -> list[Suggestion]:
    """智能分类: the small classes that best fit the description, best first."""
    return suggester.suggest(description, limit=limit) if description.strip() else []


def preview_scope(*, ctx: handlers.HotlineContext, description: str, category_code: str | None) -> dict[str, Any]:
    """Emergency, out of scope or ours, as create would decide it now (for the banner before submitting)."""
    category = ctx.categories.get(category_code) if category_code else None
    decision = assess_scope(description, category, None, rules=ctx.scope_rules)
    return {"kind": decision.kind.value, "line": decision.emergency_line.value if decision.emergency_line else None,
            "reason": decision.reason, "channel": decision.channel, "matched": list(decision.matched)}


async def locate(*, grid: GridClient, lon: float, lat: float) -> dict[str, Any]:
    """Grid, village, town and county of a point, with names, and whether it lies outside the city."""
    return await grid.locate(lon, lat)


@dataclass(frozen=True)
class Due:
    appeal: dict[str, Any]
    failed_calls: int
    last_call_at: datetime | None
    due_at: datetime
    due: bool


async def followup_worklist(*, uow: HotlineUnitOfWork, ctx: handlers.HotlineContext, limit: int = 100) -> list[Due]:
    """回访 worklist: closed orders awaiting a call, oldest first; a retry is due only after the spacing."""
    now = utcnow()
    spacing = ctx.followups.retry_after
    async with uow:
        pending = await uow.followups.closed_awaiting(limit=limit)
    out = []
    for p in pending:
        due_at = p.last_call_at + spacing if p.last_call_at else p.appeal.updated_at
        out.append(Due(handlers.appeal_answer(p.appeal), p.failed_calls, p.last_call_at, due_at, due_at <= now))
    return out

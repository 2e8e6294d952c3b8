"""The follow-up calls' SQL (回访): closed orders due a call, and the calls made on each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.hotline.adapters.orm import Appeal, FollowUpCall


@dataclass(frozen=True)
class Pending:
    appeal: Appeal
    failed_calls: int  # unanswered calls since the order was (last) closed
    last_call_at: datetime | None


class FollowUpRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, call: FollowUpCall) -> None:
        self.session.add(call)

    async def calls_on(self, order_id: str) -> Sequence[FollowUpCall]:
        """The calls made on an order, oldest first."""
        return (await self.session.execute(select(FollowUpCall).where(FollowUpCall.order_id == order_id)
                                           .order_by(FollowUpCall.recorded_at))).scalars().all()

    async def closed_awaiting(self, *, limit: int) -> list[Pending]:
        """Master appeals whose order is closed, oldest closure first, with their unanswered calls."""
        appeals: Sequence[Appeal] = (await self.session.execute(
            select(Appeal).where(Appeal.status == "closed", Appeal.disposition == "dispatched",
                                 Appeal.order_id.is_not(None))
            .order_by(Appeal.updated_at).limit(limit))).scalars().all()
        if not appeals:
            return []
        calls = (await self.session.execute(select(FollowUpCall).where(
            FollowUpCall.order_id.in_([a.order_id for a in appeals])).order_by(FollowUpCall.recorded_at))).scalars().all()
        by_order: dict[str, list[FollowUpCall]] = {}
        for call in calls:
            by_order.setdefault(call.order_id, []).append(call)
        return [p for a in appeals if (p := _pending(a, by_order.get(a.order_id or "", []))) is not None]


def _pending(appeal: Appeal, calls: list[FollowUpCall]) -> Pending | None:
    since_close = [c for c in calls if c.recorded_at >= appeal.updated_at]
    if any(c.reached for c in since_close):
        return None  # rated; dispatch has not archived or reopened it yet
    return Pending(appeal, len(since_close), since_close[-1].recorded_at if since_close else None)

"""Who read which order when (`uow.access_log`): written with every read, read by the city, pruned by age."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import OrderAccess


class AccessLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def record(self, orders: Sequence[Any], *, reader: Any, view: str, at: datetime) -> None:
        """One record per order read (`reader`: an Actor), written with the transaction."""
        self.session.add_all([OrderAccess(order_id=o.id, order_number=o.number, subject=reader.subject,
                                          subject_name=reader.name, subject_kind=reader.kind, role=str(reader.role),
                                          unit_code=reader.unit_code, view=view, at=at) for o in orders])

    async def find(self, *, order_ref: str | None = None, subject: str | None = None,
                   since: datetime | None = None, until: datetime | None = None, limit: int = 100,
                   offset: int = 0) -> list[OrderAccess]:
        """Records newest first, of one order (id or number), one reader, a time range."""
        query = select(OrderAccess).order_by(OrderAccess.at.desc(), OrderAccess.id.desc()).limit(limit).offset(offset)
        if order_ref:
            query = query.where((OrderAccess.order_id == order_ref) | (OrderAccess.order_number == order_ref))
        if subject:
            query = query.where(OrderAccess.subject == subject)
        if since:
            query = query.where(OrderAccess.at >= since)
        if until:
            query = query.where(OrderAccess.at < until)
        return list((await self.session.execute(query)).scalars())

    async def prune(self, *, before: datetime) -> int:
        """Delete records older than `before`; how many."""
        result = await self.session.execute(delete(OrderAccess).where(OrderAccess.at < before))
        return result.rowcount or 0

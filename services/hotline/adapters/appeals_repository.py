"""Appeals' SQL: the rows an operator's call creates, the order state they follow, and the reads behind the
operator's screen. The duplicate check's bounded reads are in `appeal_queries.py`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.hotline.adapters import appeal_queries
from services.hotline.adapters.orm import Appeal

TABLE = Appeal.__table__  # type: ignore[attr-defined]
COLUMNS = [c.name for c in TABLE.columns]
# What an order event changes on its appeal (and on the appeals linked to it).
ORDER_COLUMNS = ("order_id", "order_version", "order_number", "status", "county_code", "town_code", "updated_at")


class AppealRepository:
    def __init__(self, session: AsyncSession, stage: Callable[[Any, dict[str, Any]], None]) -> None:
        self.session = session
        self._stage = stage

    # --- writes -----------------------------------------------------------------------------------------------

    def add(self, row: dict[str, Any]) -> None:
        """A new appeal's row (every column of `COLUMNS`), inserted at commit with the others of its group in
        one multi-row INSERT: an ORM object costs more to build than the rest of the create."""
        self._stage(TABLE, row)

    async def count_linked(self, appeal_id: str, by: int = 1) -> None:
        """One more appeal linked to this master (重复件 count)."""
        await self.session.execute(update(Appeal).where(Appeal.id == appeal_id)
                                   .values(linked_count=Appeal.linked_count + by))

    async def write_order_values(self, latest: list[dict[str, Any]]) -> None:
        """Each appeal's newest order values and its duplicates', in one executemany UPDATE (Core, not the ORM's
        bulk path). Each item: `b_id`, `b_number` (the appeal) and `v_<column>` for every `ORDER_COLUMNS`."""
        if not latest:
            return
        await self.session.execute(
            update(TABLE).where(or_(TABLE.c.id == bindparam("b_id"), TABLE.c.master_number == bindparam("b_number")))
            .values({c: bindparam(f"v_{c}", type_=TABLE.c[c].type) for c in ORDER_COLUMNS}), latest)

    async def move_under(self, master: Appeal, *, appeal_id: str, number: str, now: datetime) -> None:
        """Link an appeal, and those linked to it, to `master` as a link made at the call would."""
        moved = await self.session.execute(
            update(Appeal).where(or_(Appeal.id == appeal_id, Appeal.master_number == number))
            .values(master_number=master.number, order_id=master.order_id, order_number=master.order_number,
                    order_version=master.order_version, status=master.status, county_code=master.county_code,
                    town_code=master.town_code, updated_at=now))
        await self.count_linked(master.id, by=moved.rowcount)
        await self.session.execute(update(Appeal).where(Appeal.id == appeal_id).values(linked_count=0))

    # --- reads ------------------------------------------------------------------------------------------------

    async def get(self, ref: str) -> Appeal | None:
        """An appeal by id or 受理编号."""
        return (await self.session.execute(
            select(Appeal).where((Appeal.id == ref) | (Appeal.number == ref)))).scalar_one_or_none()

    async def by_number(self, number: str) -> Appeal | None:
        return (await self.session.execute(select(Appeal).where(Appeal.number == number))).scalar_one_or_none()

    async def by_number_or_order(self, ref: str) -> Sequence[Appeal]:
        """Appeals whose 受理编号 or order number is `ref`, oldest first."""
        return (await self.session.execute(
            select(Appeal).where(or_(Appeal.number == ref, Appeal.order_number == ref))
            .order_by(Appeal.created_at))).scalars().all()

    async def on_order(self, ref: str) -> Sequence[Appeal]:
        """Appeals whose order number or 受理编号 is `ref`, or linked to the appeal `ref`, oldest first."""
        return (await self.session.execute(
            select(Appeal).where(or_(Appeal.order_number == ref, Appeal.number == ref, Appeal.master_number == ref))
            .order_by(Appeal.created_at))).scalars().all()

    async def linked_to(self, master_number: str) -> Sequence[Appeal]:
        return (await self.session.execute(select(Appeal).where(Appeal.master_number == master_number)
                                           .order_by(Appeal.created_at))).scalars().all()

    async def master_of_order(self, order_id: str, *, besides: str) -> Appeal | None:
        """The first master appeal (not `besides`) following this order, or None (an order of another channel)."""
        return (await self.session.execute(
            select(Appeal).where(Appeal.order_id == order_id, Appeal.master_number.is_(None), Appeal.id != besides)
            .order_by(Appeal.created_at).limit(1))).scalar_one_or_none()

    async def order_followers(self, incident_ids: list[str]) -> Sequence[Any]:
        """The order state held for these incidents' appeals, as plain rows (incident_id, id, number, order_id,
        order_version, county_code, town_code)."""
        if not incident_ids:
            return []
        c = TABLE.c  # Core columns: the ORM's compile and loading steps cost more than this read
        return (await self.session.execute(
            select(c.incident_id, c.id, c.number, c.order_id, c.order_version, c.county_code, c.town_code)
            .where(c.incident_id.in_(incident_ids)))).all()

    async def count_by_caller(self, phone: str) -> int:
        return (await self.session.execute(
            select(func.count()).select_from(Appeal).where(Appeal.caller_phone == phone))).scalar_one()

    async def by_caller(self, phone: str, *, limit: int) -> Sequence[Appeal]:
        """A caller's appeals, newest first."""
        return (await self.session.execute(select(Appeal).where(Appeal.caller_phone == phone)
                                           .order_by(Appeal.created_at.desc()).limit(limit))).scalars().all()

    # --- the duplicate check's bounded reads (appeal_queries.py) ------------------------------------------------

    async def recent_by_caller(self, *, phone: str, since: datetime, limit: int) -> Sequence[Appeal]:
        return await appeal_queries.recent_by_caller(self.session, phone=phone, since=since, limit=limit)

    async def recent_nearby(self, *, category_code: str, cells: list[int] | None,
                            box: tuple[float, float, float, float], since: datetime, limit: int) -> Sequence[Appeal]:
        return await appeal_queries.recent_nearby(self.session, category_code=category_code, cells=cells, box=box,
                                                  since=since, limit=limit)

    async def recent_by_callers(self, *, phones: list[str], since: datetime, limit: int) -> Sequence[Any]:
        return await appeal_queries.recent_by_callers(self.session, phones=phones, since=since, limit=limit)

    async def recent_in_boxes(self, *, boxes: list[tuple[str, tuple[float, float, float, float]]],
                              cells: list[int] | None, since: datetime, limit: int) -> Sequence[Any]:
        return await appeal_queries.recent_in_boxes(self.session, boxes=boxes, cells=cells, since=since, limit=limit)

    async def by_numbers(self, numbers: list[str]) -> dict[str, Any]:
        return await appeal_queries.by_numbers(self.session, numbers)

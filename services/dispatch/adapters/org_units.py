"""The stored organisation tree (`uow.org_units`) and dispatch's named counters (`uow.counters`: the topology
version, the timer-policy fingerprint): the SQL the topology and timer use cases need."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.adapters.orm import OrgUnitRow, metadata
from shared.counters import next_number

COUNTER = metadata.tables["counter"]


class OrgUnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[OrgUnitRow]:
        """Every stored unit."""
        return list((await self.session.execute(select(OrgUnitRow))).scalars())

    async def clear(self) -> None:
        """Remove every unit (the tree is about to be replaced whole)."""
        await self.session.execute(OrgUnitRow.__table__.delete())  # type: ignore[attr-defined]

    async def put(self, units: Iterable[Any], *, now: datetime) -> None:
        """Add or change units (records with code, name, kind, parent_code and maybe function)."""
        for unit in units:
            await self.session.merge(OrgUnitRow(code=unit.code, name=unit.name, kind=str(unit.kind),
                                                parent_code=unit.parent_code, function=getattr(unit, "function", None),
                                                updated_at=now))

    async def remove(self, row: OrgUnitRow) -> None:
        await self.session.delete(row)


class CounterRepository:
    """Named integers in the shared counter table (their own rows, beside the running numbers)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> int | None:
        return (await self.session.execute(select(COUNTER.c.value).where(COUNTER.c.name == name))).scalar_one_or_none()

    async def set(self, name: str, value: int, *, known: int | None) -> None:
        """Store a value (`known`: the value read before, None when there was no row)."""
        if known is None:
            await self.session.execute(COUNTER.insert().values(name=name, value=value))
        else:
            await self.session.execute(update(COUNTER).where(COUNTER.c.name == name).values(value=value))

    async def bump(self, name: str) -> None:
        """Add one (the row stays locked until the transaction ends, so bumps never interleave)."""
        await next_number(self.session, COUNTER, prefix=name, day="", width=1)

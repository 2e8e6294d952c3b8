"""Intake's SQL: incidents, Open311 requests and the order-status projection, one repository per aggregate,
opened on each unit of work (`uow.incidents`, `uow.open311_requests`, `uow.order_statuses`). Batch reads take
many keys at once, for consumers that handle a fetched batch in one transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.adapters.orm import Incident, Open311Request, OrderStatus, metadata
from services.intake.domain import open311
from shared.counters import next_number
from shared.db import one_of, scope_where
from shared.scope import Scope

_INCIDENT = Incident.__table__  # type: ignore[attr-defined]
_STATUS = OrderStatus.__table__  # type: ignore[attr-defined]
_COUNTERS = metadata.tables["counter"]


def _hot_statements(dialect: str) -> dict[str, Any]:
    """The consumers' statements, built once per dialect: a statement object remembers its cache key, where one
    built per call has SQLAlchemy construct its operators and derive its key again on every message. Keys are
    bound by `shared.db.one_of` (one array on PostgreSQL)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    status_of = one_of(_STATUS.c.incident_id, "keys", dialect)
    return {
        "new_incidents": insert(_INCIDENT).on_conflict_do_nothing(index_elements=["id"]).returning(_INCIDENT.c.id),
        "statuses_of": select(*_STATUS.c).where(status_of).with_for_update(),
    }


_HOT = {dialect: _hot_statements(dialect) for dialect in ("postgresql", "sqlite")}


def _hot(session: AsyncSession, name: str) -> Any:
    return _HOT[session.get_bind().dialect.name][name]


class IncidentRepository:
    """Incidents as intake recorded them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, incident_id: str, *, for_update: bool = False) -> Incident | None:
        return await self.session.get(Incident, incident_id, with_for_update=for_update)

    async def add_new(self, rows: list[dict[str, Any]]) -> set[str]:
        """Record these incidents (plain values, every column, distinct ids) in one multi-row INSERT, passing over
        those already recorded; the ids it recorded. No ORM objects: nothing reads these rows back in the
        transaction, and the unit of work's bookkeeping per object cost more than the INSERT."""
        if not rows:
            return set()
        return set((await self.session.execute(_hot(self.session, "new_incidents"), rows)).scalars())

    async def with_status(self, status: str, *, scope: Scope, limit: int) -> list[Incident]:
        """Incidents in this status within the scope, oldest first."""
        query = select(Incident).where(Incident.status == status)
        visible = scope_where(scope, county=Incident.county_code, town=Incident.town_code)
        if visible is not None:
            query = query.where(visible)
        return list((await self.session.execute(query.order_by(Incident.accepted_at).limit(limit))).scalars())


class Open311RequestRepository:
    """Service requests taken through Open311, read back with their order's latest status."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_id(self, day: str) -> str:
        """The next service_request_id of the day (311-YYYYMMDD-NNNNNN, unique across processes)."""
        return await next_number(self.session, _COUNTERS, prefix="311", day=day, separator="-")

    def add(self, row: Open311Request) -> None:
        self.session.add(row)

    async def get(self, service_request_id: str) -> Open311Request | None:
        return await self.session.get(Open311Request, service_request_id)

    async def search(self, query: open311.RequestQuery) -> list[tuple[Open311Request, OrderStatus | None]]:
        """Requests as GET requests filters them (the ids given, or time, codes and open/closed), newest first."""
        statement = select(Open311Request, OrderStatus).outerjoin(
            OrderStatus, OrderStatus.incident_id == Open311Request.incident_id)
        if query.service_request_ids:
            statement = statement.where(Open311Request.service_request_id.in_(query.service_request_ids))
        else:
            statement = statement.where(Open311Request.requested_at >= query.start,
                                        Open311Request.requested_at <= query.end)
            if query.service_codes:
                statement = statement.where(Open311Request.service_code.in_(query.service_codes))
            closed = OrderStatus.state.in_(sorted(open311.CLOSED_STATES))
            if query.status == "closed":
                statement = statement.where(closed)
            elif query.status == "open":
                statement = statement.where(or_(OrderStatus.state.is_(None), ~closed))
        statement = statement.order_by(Open311Request.requested_at.desc()).limit(query.limit)
        return [(request, status) for request, status in (await self.session.execute(statement)).all()]


class OrderStatusRepository:
    """The latest work-order transition per incident, as plain values."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, incident_ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The order-status rows of these incidents as plain values, by incident id (locked on PostgreSQL until
        commit)."""
        if not incident_ids:
            return {}
        found = await self.session.execute(_hot(self.session, "statuses_of"), {"keys": sorted(incident_ids)})
        return {row["incident_id"]: dict(row) for row in found.mappings()}

    async def write(self, *, new: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        """New order-status rows in one multi-row INSERT, changed ones in one executemany UPDATE."""
        if new:
            await self.session.execute(_STATUS.insert(), new)
        if changed:
            columns = [c.name for c in _STATUS.c if c.name != "incident_id"]
            await self.session.execute(
                update(_STATUS).where(_STATUS.c.incident_id == bindparam("b_incident_id"))
                .values({name: bindparam(f"b_{name}", type_=_STATUS.c[name].type) for name in columns}),
                [{f"b_{k}": v for k, v in row.items()} for row in changed])


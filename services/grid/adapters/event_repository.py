"""The SQL of grid events, photos, patrols and webhooks: one repository per aggregate, opened on each unit of work
(`uow.grid_events`, `uow.photos`, `uow.patrols`, `uow.webhooks`; services/grid/adapters/uow.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.grid.adapters import repository as counters
from services.grid.adapters.orm import (
    Grid,
    GridEvent,
    Patrol,
    PatrolPoint,
    Photo,
    TownArea,
    Webhook,
    metadata,
)
from shared.db import scope_where
from shared.scope import Scope

KEYS = metadata.tables["api_key"]

CHANGE_COUNTER = "grid_event_change"  # the monotonic change sequence behind `?since=`


def _in_scope(q: Any, scope: Scope, table: Any) -> Any:
    condition = scope_where(scope, county=table.county_code, town=table.town_code)
    return q if condition is None else q.where(condition)


class GridEventRepository:
    """Grid events in one transaction, and the change sequence that orders their changes."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, event_id: str) -> GridEvent | None:
        return await self.session.get(GridEvent, event_id)

    async def by_ids(self, ids: Iterable[str]) -> dict[str, GridEvent]:
        """The events with these ids (those that exist), by id."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return {e.id: e for e in (await self.session.execute(select(GridEvent).where(GridEvent.id.in_(wanted))))
                .scalars()}

    async def by_client_ids(self, key_ids: Iterable[str], client_ids: Iterable[str]) -> list[GridEvent]:
        """Events that these keys created under these app-made ids."""
        return list((await self.session.execute(select(GridEvent).where(
            GridEvent.key_id.in_(set(key_ids)), GridEvent.client_id.in_(set(client_ids))))).scalars())

    async def known_photos(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` that were uploaded."""
        wanted = set(ids)
        if not wanted:
            return set()
        return set((await self.session.execute(select(Photo.id).where(Photo.id.in_(wanted)))).scalars())

    async def photo_types(self, ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """{photo id: (content type, size)} for those of `ids` that were uploaded."""
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.execute(select(Photo.id, Photo.content_type, Photo.size)
                                          .where(Photo.id.in_(wanted)))
        return {pid: (content_type, size) for pid, content_type, size in rows.all()}

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """New events in one multi-row INSERT."""
        await self.session.execute(GridEvent.__table__.insert(), list(rows))

    async def next_change(self, *, count: int = 1) -> int:
        """Take `count` numbers of the change sequence; answers the last (they end at it, ascending)."""
        return await counters.bump(self.session, CHANGE_COUNTER, by=count)

    async def last_change(self) -> int:
        return await counters.counter(self.session, CHANGE_COUNTER)

    async def changed_since(self, *, after: int, limit: int, scope: Scope) -> list[GridEvent]:
        """Events in the scope whose change_seq is past `after`, oldest change first."""
        q = select(GridEvent).where(GridEvent.change_seq > after).order_by(GridEvent.change_seq).limit(limit)
        return list((await self.session.execute(_in_scope(q, scope, GridEvent))).scalars().all())

    async def state_counts(self, *, scope: Scope, town_code: str | None,
                           county_code: str | None) -> list[tuple[str, bool | None, int]]:
        """(state, escalated, how many) over the events in the scope, of a town, a county or all of it."""
        q = select(GridEvent.state, GridEvent.escalated, func.count()).group_by(GridEvent.state,
                                                                                 GridEvent.escalated)
        q = _in_scope(q, scope, GridEvent)
        if town_code:
            q = q.where(GridEvent.town_code == town_code)
        if county_code:
            q = q.where(GridEvent.county_code == county_code)
        return [tuple(r) for r in (await self.session.execute(q)).all()]

    async def county_of_town(self, town_code: str) -> str | None:
        return (await self.session.execute(select(TownArea.county_code).where(TownArea.code == town_code))).scalar()


class PhotoRepository:
    """Uploaded photos (content-addressed: the id is the SHA-256 of the bytes)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_once(self, photo: Photo) -> None:
        """Record a photo unless the same bytes were recorded before."""
        if await self.session.get(Photo, photo.id) is None:
            self.session.add(photo)

    async def with_owner_scope(self, photo_id: str) -> tuple[Photo, str | None] | None:
        """A photo and the scope unit of the key that uploaded it (None: a city-wide key)."""
        row = (await self.session.execute(select(Photo, KEYS.c.scope_unit).outerjoin(KEYS, KEYS.c.id == Photo.key_id)
                                          .where(Photo.id == photo_id))).first()
        return None if row is None else (row[0], row[1])


class PatrolRepository:
    """Patrols, their track points, and the grids they cover."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, patrol_id: str) -> Patrol | None:
        return await self.session.get(Patrol, patrol_id)

    async def grid(self, code: str) -> Grid | None:
        return await self.session.get(Grid, code)

    def add(self, patrol: Patrol) -> None:
        self.session.add(patrol)

    async def add_points(self, rows: Sequence[dict[str, Any]]) -> None:
        await counters.bulk(self.session, PatrolPoint.__table__, rows)

    async def overlapping(self, *, scope: Scope, start: datetime, end: datetime, town_code: str | None,
                          county_code: str | None, grid_code: str | None) -> list[Patrol]:
        """Patrols in the scope under way at some moment of [start, end), in a town, county or grid if given."""
        q = select(Patrol).where(Patrol.started_at < end, or_(Patrol.ended_at.is_(None), Patrol.ended_at > start))
        q = _in_scope(q, scope, Patrol)
        for column, value in ((Patrol.town_code, town_code), (Patrol.county_code, county_code),
                              (Patrol.grid_code, grid_code)):
            if value:
                q = q.where(column == value)
        return list((await self.session.execute(q)).scalars().all())

    async def grid_codes(self, *, scope: Scope, town_code: str | None, county_code: str | None,
                         grid_code: str | None) -> list[str]:
        """The codes of the grids in the scope, in a town, county or grid if given (all of them otherwise)."""
        q = _in_scope(select(Grid.code), scope, Grid)
        for column, value in ((Grid.town_code, town_code), (Grid.county_code, county_code), (Grid.code, grid_code)):
            if value:
                q = q.where(column == value)
        return list((await self.session.execute(q)).scalars().all())


class WebhookRepository:
    """One webhook per integration key, and how far its deliveries got."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key_id: str) -> Webhook | None:
        return await self.session.get(Webhook, key_id)

    def add(self, hook: Webhook) -> None:
        self.session.add(hook)

    async def active_key_exists(self, key_id: str) -> bool:
        return (await self.session.execute(select(KEYS.c.id).where(
            KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None)))).first() is not None

    async def remove(self, key_id: str) -> bool:
        return bool((await self.session.execute(delete(Webhook).where(Webhook.key_id == key_id))).rowcount)

    async def due(self, now: datetime) -> list[tuple[Webhook, str | None]]:
        """Hooks of unrevoked keys that may be tried now, with their key's scope."""
        return [tuple(r) for r in (await self.session.execute(
            select(Webhook, KEYS.c.scope_unit).join(KEYS, KEYS.c.id == Webhook.key_id).where(
                KEYS.c.revoked_at.is_(None),
                or_(Webhook.next_attempt_at.is_(None), Webhook.next_attempt_at <= now)))).all()]

    async def advance(self, key_id: str, *, seen: int, values: dict[str, Any]) -> None:
        """Record a delivery attempt, unless another process moved the hook past `seen` meanwhile."""
        await self.session.execute(update(Webhook).where(Webhook.key_id == key_id, Webhook.delivered_seq == seen)
                                   .values(**values))

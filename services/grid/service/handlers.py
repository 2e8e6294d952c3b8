"""Grid's service layer: the registry, API keys, grid workers' events and photos, patrols, order updates."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, func, or_, select, text, update

from services.grid.adapters.orm import (
    Grid,
    GridEvent,
    GridMember,
    Patrol,
    PatrolPoint,
    Photo,
    TownArea,
    Webhook,
    metadata,
)
from services.grid.domain import photos as photo_rules
from services.grid.domain import registry
from services.grid.domain.lookup import GridIndex, Located
from services.grid.domain.patrols import PatrolSpan, coverage
from services.grid.domain.scope import within
from services.grid.domain.states import (
    INITIAL,
    EventState,
    Handling,
    TransitionRefused,
    follow_order,
    transition,
)
from shared import apikeys, metrics
from shared.categories import CategoryTable
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import Channel, Coordinates, IncidentReported, Location, OrderChanged, Reporter
from shared.groupcommit import GroupCommit
from shared.idempotency import Stored, fingerprint, run_once
from shared.projection import Applied, supersedes
from shared.uow import UnitOfWork

CONSUMER_ORDERS = "grid-orders"
CHANGE_COUNTER = "grid_event_change"  # the monotonic change sequence behind `?since=`
REGISTRY_COUNTER = "grid_registry_version"  # bumped by every import: other processes rebuild their index
KEYS = metadata.tables["api_key"]
IDEMPOTENCY = metadata.tables["idempotency_key"]
COUNTERS = metadata.tables["counter"]


class Index(Protocol):
    def locate(self, lon: float, lat: float) -> Any: ...


class Rejected(Exception):
    """A 4xx answer decided by a use case: status and detail (a message, or field-level errors)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


def _error(field_: str, message: str, type_: str) -> dict[str, Any]:
    return {"field": field_, "in": "body", "message": message, "type": type_}


@dataclass
class IndexHolder:
    """The lookup index one process serves, and the registry version it was built from."""

    index: GridIndex
    version: int = 0


# ---------------------------------------------------------------- registry


@dataclass(frozen=True)
class _IndexedGrid:
    code: str
    kind: str
    village_code: str
    town_code: str
    county_code: str
    polygon: dict[str, Any]


async def _counter(uow: UnitOfWork, name: str) -> int:
    value = (await uow.session.execute(select(COUNTERS.c.value).where(COUNTERS.c.name == name))).scalar()
    return int(value or 0)


async def _bump(uow: UnitOfWork, name: str, *, by: int = 1) -> int:
    # The row update holds a row lock to commit, so sequence order is commit order (see docs/grid.md).
    result = await uow.session.execute(update(COUNTERS).where(COUNTERS.c.name == name)
                                       .values(value=COUNTERS.c.value + by).returning(COUNTERS.c.value))
    value = result.scalar_one_or_none()
    if value is None:
        await uow.session.execute(COUNTERS.insert().values(name=name, value=by))
        value = by
    return int(value)


async def prepare_registry(*, uow: UnitOfWork, demo_city: bool) -> int:
    """Create the counters and, into an empty registry, bulk-load the demo city; returns grids loaded."""
    from shared import democity

    async with uow:
        if uow.session.bind.dialect.name == "postgresql":
            # Two processes starting on one empty database: the second waits here, then finds the city loaded.
            await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('mcc-grid-registry'))"))
        for name in (CHANGE_COUNTER, REGISTRY_COUNTER):
            if (await uow.session.execute(select(COUNTERS.c.name).where(COUNTERS.c.name == name))).first() is None:
                await uow.session.execute(COUNTERS.insert().values(name=name, value=0))
        loaded = 0
        empty = (await uow.session.execute(select(Grid.code).limit(1))).first() is None
        if demo_city and empty:
            grid_rows, member_rows = [], []
            for g in democity.grids():
                grid_rows.append({"code": g.code, "name": g.name, "kind": g.kind, "dedicated_type": g.dedicated_type,
                                  "village_code": g.village_code, "town_code": g.town_code,
                                  "county_code": g.county_code,
                                  "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in g.polygon]]}})
                member_rows += [{"grid_code": g.code, "name": m.name, "role": m.role, "phone": m.phone}
                                for m in g.members]
            boxes = democity.boxes()
            town_rows = [{"code": u.code, "county_code": u.parent_code, "polygon": registry.rectangle(*boxes[u.code])}
                         for u in democity.units() if u.kind == "town"]
            await _bulk(uow, TownArea.__table__, town_rows)
            await _bulk(uow, Grid.__table__, grid_rows)
            await _bulk(uow, GridMember.__table__, member_rows)
            await _bump(uow, REGISTRY_COUNTER)
            loaded = len(grid_rows)
        await uow.commit()
        return loaded


async def _bulk(uow: UnitOfWork, table: Any, rows: Sequence[dict[str, Any]], chunk: int = 2000) -> None:
    # executemany in chunks: SQLAlchemy renders multi-row INSERTs ("insertmanyvalues") on both databases.
    for start in range(0, len(rows), chunk):
        await uow.session.execute(table.insert(), list(rows[start:start + chunk]))


async def build_index(*, uow: UnitOfWork) -> IndexHolder:
    """The lookup index over every grid in the registry."""
    async with uow:
        version = await _counter(uow, REGISTRY_COUNTER)
        rows = (await uow.session.execute(select(Grid.code, Grid.kind, Grid.village_code, Grid.town_code,
                                                 Grid.county_code, Grid.polygon).order_by(Grid.code))).all()
    return IndexHolder(GridIndex([_IndexedGrid(*row) for row in rows]), version)


async def registry_version(*, uow: UnitOfWork) -> int:
    """The registry's version (changes with every import)."""
    async with uow:
        return await _counter(uow, REGISTRY_COUNTER)


async def import_grids(*, uow: UnitOfWork, document: Any) -> dict[str, Any]:
    """Validate a FeatureCollection and replace the grids of every town it covers; nothing written on error."""
    parsed = registry.parse(document)
    if parsed.problems:
        raise Rejected(422, [p.as_dict() for p in parsed.problems])
    if not parsed.grids:
        raise Rejected(422, [_error("features", "the collection holds no grids", "empty")])
    towns = sorted({g.town_code for g in parsed.grids})
    async with uow:
        areas = {row.code: row.polygon for row in (await uow.session.execute(select(TownArea))).scalars()}
        problems = registry.validate(parsed, areas)
        codes = [g.code for g in parsed.grids]
        clashes = (await uow.session.execute(select(Grid.code, Grid.town_code).where(
            Grid.code.in_(codes), Grid.town_code.not_in(towns)))).all()
        problems += [registry.Problem(f"features[{parsed.feature_of[c]}].properties.code",
                                      f"code {c} already belongs to a grid of town {t}, which this import keeps",
                                      "duplicate_code", parsed.feature_of[c], c) for c, t in clashes]
        if problems:
            raise Rejected(422, [p.as_dict() for p in problems])
        old = select(Grid.code).where(Grid.town_code.in_(towns))
        await uow.session.execute(delete(GridMember).where(GridMember.grid_code.in_(old)))
        replaced = (await uow.session.execute(delete(Grid).where(Grid.town_code.in_(towns)))).rowcount
        for town in parsed.towns:
            await uow.session.execute(delete(TownArea).where(TownArea.code == town.code))
        await _bulk(uow, TownArea.__table__, [{"code": t.code, "county_code": t.county_code, "polygon": t.polygon}
                                              for t in parsed.towns])
        await _bulk(uow, Grid.__table__, [
            {"code": g.code, "name": g.name, "kind": g.kind, "dedicated_type": g.dedicated_type,
             "village_code": g.village_code, "town_code": g.town_code, "county_code": g.county_code,
             "polygon": g.polygon} for g in parsed.grids])
        await _bulk(uow, GridMember.__table__, [{"grid_code": g.code, **asdict(m)}
                                                for g in parsed.grids for m in g.members])
        version = await _bump(uow, REGISTRY_COUNTER)
        await uow.commit()
    return {"imported": len(parsed.grids), "replaced": replaced, "towns": towns, "registry_version": version}


async def export_grids(*, uow: UnitOfWork, town_code: str | None = None,
                       county_code: str | None = None) -> dict[str, Any]:
    """The registry (or one town's or county's part) as a FeatureCollection, town areas included."""
    async with uow:
        grids_q, towns_q = select(Grid).order_by(Grid.code), select(TownArea).order_by(TownArea.code)
        if town_code:
            grids_q, towns_q = grids_q.where(Grid.town_code == town_code), towns_q.where(TownArea.code == town_code)
        if county_code:
            grids_q = grids_q.where(Grid.county_code == county_code)
            towns_q = towns_q.where(TownArea.county_code == county_code)
        grids = (await uow.session.execute(grids_q)).scalars().all()
        members: dict[str, list[GridMember]] = {}
        member_q = select(GridMember).order_by(GridMember.id)
        if town_code or county_code:
            member_q = member_q.where(GridMember.grid_code.in_(grids_q.with_only_columns(Grid.code)))
        for m in (await uow.session.execute(member_q)).scalars():
            members.setdefault(m.grid_code, []).append(m)
        towns = (await uow.session.execute(towns_q)).scalars().all()
    features = [registry.town_feature(t.code, t.county_code, t.polygon) for t in towns]
    features += [registry.to_feature(g, members.get(g.code, ())) for g in grids]
    return {"type": "FeatureCollection", "features": features}


async def list_grids(*, uow: UnitOfWork, town_code: str | None, village_code: str | None, kind: str | None,
                     limit: int, offset: int) -> list[Grid]:
    """Grids filtered by town, village or kind, by code."""
    async with uow:
        q = select(Grid).order_by(Grid.code).limit(limit).offset(offset)
        for column, value in ((Grid.town_code, town_code), (Grid.village_code, village_code), (Grid.kind, kind)):
            if value:
                q = q.where(column == value)
        return list((await uow.session.execute(q)).scalars())


async def get_grid(*, uow: UnitOfWork, code: str) -> tuple[Grid, list[GridMember]] | None:
    """One grid and its members."""
    async with uow:
        grid = await uow.session.get(Grid, code)
        if grid is None:
            return None
        members = (await uow.session.execute(select(GridMember).where(GridMember.grid_code == code)
                                             .order_by(GridMember.id))).scalars().all()
        return grid, list(members)


# ---------------------------------------------------------------- API keys


async def issue_key(*, uow: UnitOfWork, name: str, scope_unit: str | None) -> tuple[apikeys.ApiKey, str]:
    """Issue an integration key scoped to a county or town of the registry (None: the whole city)."""
    async with uow:
        if scope_unit is not None:
            known = (await uow.session.execute(select(Grid.code).where(
                or_(Grid.town_code == scope_unit, Grid.county_code == scope_unit)).limit(1))).first()
            if known is None:
                raise Rejected(422, [_error("scope_unit", f"{scope_unit} is not a county or town of the registry",
                                            "unknown_unit")])
        record, plaintext = await apikeys.issue(uow.session, KEYS, name=name, scope_unit=scope_unit)
        await uow.commit()
        return record, plaintext


async def list_keys(*, uow: UnitOfWork) -> list[apikeys.ApiKey]:
    """Every key issued, revoked ones included (never the secrets)."""
    async with uow:
        return await apikeys.list_keys(uow.session, KEYS)


async def revoke_key(*, uow: UnitOfWork, key_id: str, cache: KeyCache | None = None) -> bool:
    """Revoke a key (this process forgets it at once, others within the key cache's TTL)."""
    async with uow:
        done = await apikeys.revoke(uow.session, KEYS, key_id=key_id)
        await uow.commit()
    if cache is not None:
        cache.forget(key_id)
    return done


class KeyCache:
    """Verified keys kept for a few seconds, so a busy app's requests skip the key lookup.

    The price is that a revocation reaches other processes only when their entry expires (at most `ttl_s`);
    the process that revokes forgets the key at once. Only SHA-256 digests of keys are held, never keys.
    """

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, tuple[apikeys.ApiKey, float]] = {}

    def get(self, digest: str, now: float) -> apikeys.ApiKey | None:
        hit = self._entries.get(digest)
        return hit[0] if hit is not None and hit[1] > now else None

    def put(self, digest: str, key: apikeys.ApiKey, now: float) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (key, now + self.ttl_s)

    def forget(self, key_id: str) -> None:
        for digest in [d for d, (k, _) in self._entries.items() if k.id == key_id]:
            del self._entries[digest]


async def verify_key(*, uow: UnitOfWork, plaintext: str | None, cache: KeyCache | None = None) -> apikeys.ApiKey | None:
    """The active key a request presents, or None."""
    now = time.monotonic()
    digest = hashlib.sha256((plaintext or "").encode()).hexdigest()
    if cache is not None and cache.ttl_s > 0 and (hit := cache.get(digest, now)) is not None:
        return hit
    async with uow:
        key = await apikeys.verify(uow.session, KEYS, plaintext)
    if key is not None and cache is not None and cache.ttl_s > 0:
        cache.put(digest, key, now)
    return key


# ---------------------------------------------------------------- photos


async def store_photo(*, new_uow: Callable[[], UnitOfWork], key: apikeys.ApiKey, idempotency_key: str,
                      content: bytes, photo_dir: str) -> Stored:
    """Keep an uploaded photo on disk (content-addressed) and record it; the content type is already checked."""
    content_type = photo_rules.sniff(content[:16])
    assert content_type is not None  # the route refused anything else with 415
    pid = photo_rules.photo_id(content)
    relative = photo_rules.relative_path(pid, content_type)
    await asyncio.to_thread(_write_once, Path(photo_dir) / relative, content)

    async def create(uow: UnitOfWork) -> tuple[int, Any]:
        if await uow.session.get(Photo, pid) is None:
            uow.session.add(Photo(id=pid, content_type=content_type, size=len(content), path=relative,
                                  key_id=key.id, created_at=utcnow()))
        return 201, {"id": pid, "content_type": content_type, "size": len(content)}

    return await run_once(new_uow, IDEMPOTENCY, scope=f"grid:{key.id}:photos", key=idempotency_key,
                          fingerprint=pid, create=create)


def _write_once(target: Path, content: bytes) -> None:
    if target.exists():
        return
    # Write then rename: a reader never sees half a file, and a retry rewrites the same bytes.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{uuid.uuid4().hex}.part")
    partial.write_bytes(content)
    partial.replace(target)


async def photo_file(*, uow: UnitOfWork, photo_id: str, photo_dir: str) -> tuple[Path, str] | None:
    """Where a photo's bytes are, and their type."""
    async with uow:
        photo = await uow.session.get(Photo, photo_id)
    if photo is None:
        return None
    return Path(photo_dir) / photo.path, photo.content_type


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class EventInput:
    """One event as a grid app reports it (already checked for shape by the route)."""

    category_code: str
    description: str
    lon: float
    lat: float
    reporter_id: str
    reporter_name: str | None = None
    handling: str = Handling.REPORT.value
    photo_ids: tuple[str, ...] = ()
    after_photo_ids: tuple[str, ...] = ()
    resolution_note: str | None = None
    client_id: str | None = None

    def fingerprint_payload(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Outcomes:
    """Metric outcomes to count once the transaction has committed."""

    counts: list[str] = field(default_factory=list)

    def record(self) -> None:
        for outcome in self.counts:
            metrics.GRID_EVENTS.labels(outcome).inc()


_EVENT_FIELDS = tuple(GridEvent.__table__.columns.keys())
_PRIVATE = ("key_id", "order_id", "order_version")  # bookkeeping the grid app never reads
_TIMES = ("created_at", "updated_at", "reported_at", "resolved_at")


def _row(event: GridEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in _EVENT_FIELDS}


def _view(row: dict[str, Any]) -> dict[str, Any]:
    out = {name: row.get(name) for name in _EVENT_FIELDS if name not in _PRIVATE}
    for name in _TIMES:
        out[name] = row[name].isoformat() if row.get(name) else None
    out["escalated"], out["flagged"] = bool(row.get("escalated")), bool(row.get("flagged"))
    out["photo_ids"], out["after_photo_ids"] = list(row.get("photo_ids") or []), list(row.get("after_photo_ids") or [])
    return out


def event_view(event: GridEvent) -> dict[str, Any]:
    """The event as the grid app reads it (JSON-able: it is also the stored idempotent answer)."""
    return _view(_row(event))


def _item_problems(item: EventInput, categories: CategoryTable, prefix: str) -> list[dict[str, Any]]:
    problems = []
    if item.category_code not in categories:
        problems.append(_error(f"{prefix}category_code", f"unknown category code {item.category_code!r} "
                                                         "(see the category code table)", "unknown_category"))
    if item.handling == Handling.RESOLVED_ON_SPOT and not item.after_photo_ids:
        problems.append(_error(f"{prefix}after_photo_ids", "an event resolved on the spot (就地解决) needs at "
                                                           "least one photo after the fix as evidence", "missing"))
    return problems


def _scope_check(key: apikeys.ApiKey, found: Located) -> None:
    if not within(key.scope_unit, town_code=found.town_code, county_code=found.county_code):
        raise Rejected(403, f"the location ({found.town_code or 'unknown town'}) is outside this key's scope "
                            f"{key.scope_unit}")


async def _missing_photos(uow: UnitOfWork, ids: Iterable[str]) -> set[str]:
    wanted = set(ids)
    if not wanted:
        return set()
    known = set((await uow.session.execute(select(Photo.id).where(Photo.id.in_(wanted)))).scalars())
    return wanted - known


async def _report_up(uow: UnitOfWork, row: dict[str, Any]) -> None:
    report = IncidentReported(
        incident_id=row["incident_id"], channel=Channel.GRID, source_ref=row["id"],
        category_code=row["category_code"], description=row["description"], reported_at=row["reported_at"],
        title="网格提级" if row.get("escalated") else None,
        location=Location(coordinates=Coordinates(lon=row["lon"], lat=row["lat"]), grid_code=row["grid_code"],
                          village_code=row["village_code"], town_code=row["town_code"],
                          county_code=row["county_code"]),
        reporter=Reporter(id=row["reporter_id"], name=row["reporter_name"], role="grid_worker"),
    )
    await uow.emit(INCIDENT_REPORTED, report, subject=row["incident_id"])


@dataclass(frozen=True)
class _Entry:
    index: int
    item: EventInput
    found: Located
    prefix: str
    key: apikeys.ApiKey


async def _create_events(uow: UnitOfWork, entries: Sequence[_Entry], outcomes: Outcomes) -> dict[int, tuple[int, Any]]:
    """Create checked events in one go: (status, event view | error detail) per entry index.

    A batch costs a fixed number of statements plus one outbox row per reported event: existing item ids and
    photo ids are read in one query each, the change sequence is advanced once for all, the rows go in one
    multi-row INSERT. Every check comes before the first write, so a refused item leaves nothing behind.
    """
    results: dict[int, tuple[int, Any]] = {}
    client_ids = {e.item.client_id for e in entries if e.item.client_id is not None}
    existing: dict[tuple[str, str], dict[str, Any]] = {}
    if client_ids:
        rows = (await uow.session.execute(select(GridEvent).where(
            GridEvent.key_id.in_({e.key.id for e in entries}), GridEvent.client_id.in_(client_ids)))).scalars()
        existing = {(str(e.key_id), e.client_id): _view(_row(e)) for e in rows if e.client_id}
    wanted = {p for e in entries for p in (*e.item.photo_ids, *e.item.after_photo_ids)}
    known = set((await uow.session.execute(select(Photo.id).where(Photo.id.in_(wanted)))).scalars()) \
        if wanted else set()
    now = utcnow()
    new_rows: list[tuple[int, dict[str, Any]]] = []
    for e in entries:
        item = e.item
        own = (e.key.id, item.client_id) if item.client_id is not None else None
        if own is not None and own in existing:
            results[e.index] = (200, existing[own])
            continue
        problems = [_error(f"{e.prefix}{name}[{n}]", f"unknown photo {p}: upload it first (POST /api/v1/photos)",
                           "unknown_photo")
                    for name, ids in (("photo_ids", item.photo_ids), ("after_photo_ids", item.after_photo_ids))
                    for n, p in enumerate(ids) if p not in known]
        if problems:
            results[e.index] = (422, problems)
            continue
        state = INITIAL[Handling(item.handling)]
        found = e.found
        row = {
            "id": str(uuid.uuid4()), "incident_id": str(uuid.uuid4()), "client_id": item.client_id,
            "key_id": e.key.id, "category_code": item.category_code, "description": item.description,
            "lon": item.lon, "lat": item.lat, "grid_code": found.grid_code, "village_code": found.village_code,
            "town_code": found.town_code, "county_code": found.county_code, "located_by": found.located_by,
            "flagged": found.flagged, "state": state.value, "escalated": False, "reporter_id": item.reporter_id,
            "reporter_name": item.reporter_name, "photo_ids": list(item.photo_ids),
            "after_photo_ids": list(item.after_photo_ids), "resolution_note": item.resolution_note,
            "order_id": None, "order_number": None, "order_state": None, "order_version": None, "created_at": now, "updated_at": now,
            "reported_at": now if state is EventState.REPORTED else None,
            "resolved_at": now if state is EventState.RESOLVED_ON_SPOT else None,
        }
        new_rows.append((e.index, row))
        if own is not None:
            existing[own] = row  # a second item with the same id in this batch is this event
    if not new_rows:
        return results
    last = await _bump(uow, CHANGE_COUNTER, by=len(new_rows))
    for seq, (_, row) in enumerate(new_rows, start=last - len(new_rows) + 1):
        row["change_seq"] = seq
    await uow.session.execute(GridEvent.__table__.insert(), [row for _, row in new_rows])
    for index, row in new_rows:
        if row["state"] == EventState.REPORTED:
            await _report_up(uow, row)
            outcomes.counts.append("reported")
        elif row["state"] == EventState.RESOLVED_ON_SPOT:
            outcomes.counts.append("resolved_on_spot")
        results[index] = (201, _view(row))
    for index, (status, body) in list(results.items()):
        if status == 200 and "key_id" in body:  # an in-batch duplicate: answer with the created event's view
            results[index] = (200, _view(body))
    return results


async def report_event(*, new_uow: Callable[[], UnitOfWork], index: Index, categories: CategoryTable,
                       key: apikeys.ApiKey, idempotency_key: str, item: EventInput,
                       group: GroupCommit[_Entry] | None = None) -> Stored:
    """Record a grid worker's event: resolved on the spot, reported up (上报 → intake), or held pending."""
    problems = _item_problems(item, categories, "")
    if problems:
        raise Rejected(422, problems)
    found = index.locate(item.lon, item.lat)
    _scope_check(key, found)
    entry = _Entry(0, item, found, "", key)
    group = group or event_group_commit(new_uow, max_group=1)
    stored = await group.submit(entry, scope=f"grid:{key.id}:events", key=idempotency_key,
                                fingerprint=fingerprint(item.fingerprint_payload()))
    if not stored.replayed and stored.body.get("state") in (EventState.REPORTED, EventState.RESOLVED_ON_SPOT):
        metrics.GRID_EVENTS.labels(stored.body["state"]).inc()
    return stored


async def _stage_events(uow: UnitOfWork, entries: Sequence[_Entry]) -> list[tuple[int, Any] | Exception]:
    created = await _create_events(uow, [_Entry(n, e.item, e.found, e.prefix, e.key) for n, e in enumerate(entries)],
                                   Outcomes())
    return [Rejected(*created[n]) if created[n][0] >= 400 else created[n] for n in range(len(entries))]


async def _stage_event(uow: UnitOfWork, entry: _Entry) -> tuple[int, Any]:
    answer = (await _stage_events(uow, [entry]))[0]
    if isinstance(answer, Exception):
        raise answer  # rolls the transaction back: nothing is stored for the key
    return answer


def event_group_commit(new_uow: Callable[[], UnitOfWork], *, max_group: int = 200) -> GroupCommit[_Entry]:
    """Single-event creates that arrive together share one transaction (see shared/groupcommit.py)."""
    return GroupCommit(new_uow, IDEMPOTENCY, stage_one=_stage_event, stage_many=_stage_events, max_group=max_group)


async def report_batch(*, new_uow: Callable[[], UnitOfWork], index: Index, categories: CategoryTable,
                       key: apikeys.ApiKey, idempotency_key: str,
                       items: Sequence[EventInput | list[dict[str, Any]]]) -> Stored:
    """An offline app's batch: each item its own result, the whole batch once per Idempotency-Key."""
    outcomes = Outcomes()
    payload = [i.fingerprint_payload() if isinstance(i, EventInput) else i for i in items]
    refused: dict[int, tuple[int, Any]] = {}
    entries: list[_Entry] = []
    for n, item in enumerate(items):
        prefix = f"items[{n}]."
        if not isinstance(item, EventInput):
            refused[n] = (422, item)
            continue
        problems = _item_problems(item, categories, prefix)
        if problems:
            refused[n] = (422, problems)
            continue
        found = index.locate(item.lon, item.lat)
        try:
            _scope_check(key, found)
        except Rejected as exc:
            refused[n] = (exc.status, exc.detail)
            continue
        entries.append(_Entry(n, item, found, prefix, key))

    async def create(uow: UnitOfWork) -> tuple[int, Any]:
        outcomes.counts.clear()
        done = {**refused, **await _create_events(uow, entries, outcomes)}
        results = []
        for n, item in enumerate(items):
            status, body = done[n]
            head = {"index": n, "id": item.client_id if isinstance(item, EventInput) else None, "status": status}
            results.append({**head, "event": body} if status < 400 else {**head, "detail": body})
        counts = {s: sum(r["status"] == s for r in results) for s in (200, 201)}
        return 200, {"results": results, "created": counts[201], "existing": counts[200],
                     "failed": len(results) - counts[200] - counts[201]}

    stored = await run_once(new_uow, IDEMPOTENCY, scope=f"grid:{key.id}:batches", key=idempotency_key,
                            fingerprint=fingerprint(payload), create=create)
    if not stored.replayed:
        outcomes.record()
    return stored


async def _scoped_event(uow: UnitOfWork, key: apikeys.ApiKey | None, event_id: str) -> GridEvent:
    event = await uow.session.get(GridEvent, event_id)
    if event is None or (key is not None and not within(key.scope_unit, town_code=event.town_code,
                                                        county_code=event.county_code)):
        raise Rejected(404, f"no grid event {event_id}")
    return event


async def get_event(*, uow: UnitOfWork, key: apikeys.ApiKey | None, event_id: str) -> dict[str, Any]:
    """One event, if the key's scope covers it (404 otherwise: a key does not learn what lies outside it)."""
    async with uow:
        return event_view(await _scoped_event(uow, key, event_id))


async def resolve_event(*, uow: UnitOfWork, key: apikeys.ApiKey, event_id: str, after_photo_ids: Sequence[str],
                        note: str | None) -> dict[str, Any]:
    """A pending event fixed on the spot (就地解决): closed with after photos, never sent to intake."""
    async with uow:
        event = await _scoped_event(uow, key, event_id)
        if event.state == EventState.RESOLVED_ON_SPOT:
            return event_view(event)  # a phone's retry
        try:
            event.state = transition(EventState(event.state), EventState.RESOLVED_ON_SPOT).value
        except TransitionRefused as exc:
            raise Rejected(409, str(exc)) from exc
        missing = await _missing_photos(uow, after_photo_ids)
        if missing:
            raise Rejected(422, [_error(f"after_photo_ids[{list(after_photo_ids).index(p)}]",
                                        f"unknown photo {p}: upload it first", "unknown_photo")
                                 for p in sorted(missing)])
        now = utcnow()
        event.after_photo_ids = list(after_photo_ids)
        event.resolution_note = note
        event.resolved_at = event.updated_at = now
        event.change_seq = await _bump(uow, CHANGE_COUNTER)
        view = event_view(event)
        await uow.commit()
    metrics.GRID_EVENTS.labels("resolved_on_spot").inc()
    return view


async def escalate_event(*, uow: UnitOfWork, key: apikeys.ApiKey, event_id: str) -> dict[str, Any]:
    """A pending event the grid cannot fix goes up (提级): reported to intake, marked escalated."""
    async with uow:
        event = await _scoped_event(uow, key, event_id)
        if event.escalated:
            return event_view(event)  # a phone's retry
        try:
            event.state = transition(EventState(event.state), EventState.ESCALATED).value
        except TransitionRefused as exc:
            raise Rejected(409, str(exc)) from exc
        now = utcnow()
        event.escalated = True
        event.reported_at = event.updated_at = now
        await _report_up(uow, _row(event))
        event.change_seq = await _bump(uow, CHANGE_COUNTER)
        view = event_view(event)
        await uow.commit()
    metrics.GRID_EVENTS.labels("escalated").inc()
    return view


async def changes_since(*, uow: UnitOfWork, key: apikeys.ApiKey, since: int, limit: int) -> dict[str, Any]:
    """Events in the key's scope that changed after the cursor, oldest change first, and the next cursor."""
    async with uow:
        q = select(GridEvent).where(GridEvent.change_seq > since).order_by(GridEvent.change_seq).limit(limit)
        if key.scope_unit is not None:
            q = q.where(or_(GridEvent.town_code == key.scope_unit, GridEvent.county_code == key.scope_unit))
        events = (await uow.session.execute(q)).scalars().all()
    items = [event_view(e) for e in events]
    return {"items": items, "cursor": items[-1]["change_seq"] if items else since, "more": len(items) == limit}


async def outcome_counts(*, uow: UnitOfWork, town_code: str | None = None,
                         county_code: str | None = None) -> dict[str, Any]:
    """Events by state, and how many were resolved on the spot, reported and escalated."""
    async with uow:
        q = select(GridEvent.state, GridEvent.escalated, func.count()).group_by(GridEvent.state,
                                                                               GridEvent.escalated)
        if town_code:
            q = q.where(GridEvent.town_code == town_code)
        if county_code:
            q = q.where(GridEvent.county_code == county_code)
        rows = (await uow.session.execute(q)).all()
    by_state: dict[str, int] = {}
    resolved = escalated = total = 0
    for state, was_escalated, n in rows:
        by_state[state] = by_state.get(state, 0) + n
        total += n
        resolved += n if state == EventState.RESOLVED_ON_SPOT else 0
        escalated += n if was_escalated else 0
    pending = by_state.get(EventState.PENDING, 0)
    return {"total": total, "by_state": by_state, "resolved_on_spot": resolved, "escalated": escalated,
            "reported": total - resolved - pending,
            "escalation_rate": round(escalated / total, 4) if total else None}


async def handle_order_changed(event: CloudEvent[Any], *, uow: UnitOfWork) -> None:
    """Keep a reported event's status in step with its work order, for the grid app to read."""
    change: OrderChanged = event.data
    async with uow:
        if not await uow.first_delivery(consumer=CONSUMER_ORDERS, event_id=event.id):
            return
        grid_event = None
        if change.channel == Channel.GRID:
            grid_event = await uow.session.get(GridEvent, change.source_ref)
        if grid_event is None:
            await uow.commit()  # another channel's order: nothing of ours
            return
        applied = Applied(grid_event.order_id, grid_event.order_version or 0) if grid_event.order_id else None
        if not supersedes(change, applied):
            await uow.commit()  # an older transition arriving late must not roll the status back
            return
        grid_event.order_id, grid_event.order_version = change.order_id, change.version
        grid_event.order_number = change.order_number
        grid_event.order_state = change.to_state.value
        grid_event.state = follow_order(EventState(grid_event.state), change.to_state).value
        grid_event.updated_at = utcnow()
        grid_event.change_seq = await _bump(uow, CHANGE_COUNTER)
        await uow.commit()


# ---------------------------------------------------------------- patrols


async def start_patrol(*, new_uow: Callable[[], UnitOfWork], key: apikeys.ApiKey, idempotency_key: str,
                       worker_id: str, grid_code: str, started_at: datetime | None) -> Stored:
    """A grid worker checks in at the start of a patrol of one grid."""
    async with new_uow() as uow:
        grid = await uow.session.get(Grid, grid_code)
    if grid is None:
        raise Rejected(422, [_error("grid_code", f"unknown grid {grid_code}", "unknown_grid")])
    if not within(key.scope_unit, town_code=grid.town_code, county_code=grid.county_code):
        raise Rejected(403, f"grid {grid_code} is outside this key's scope {key.scope_unit}")
    begin = started_at or utcnow()

    async def create(uow: UnitOfWork) -> tuple[int, Any]:
        patrol = Patrol(id=str(uuid.uuid4()), key_id=key.id, worker_id=worker_id, grid_code=grid_code,
                        town_code=grid.town_code, county_code=grid.county_code, started_at=begin)
        uow.session.add(patrol)
        return 201, _patrol_view(patrol)

    return await run_once(new_uow, IDEMPOTENCY, scope=f"grid:{key.id}:patrols", key=idempotency_key,
                          fingerprint=fingerprint({"worker": worker_id, "grid": grid_code,
                                                   "started_at": started_at}), create=create)


def _patrol_view(p: Patrol) -> dict[str, Any]:
    return {"id": p.id, "worker_id": p.worker_id, "grid_code": p.grid_code, "town_code": p.town_code,
            "started_at": p.started_at.isoformat(), "ended_at": p.ended_at.isoformat() if p.ended_at else None,
            "points": p.points}


async def _own_patrol(uow: UnitOfWork, key: apikeys.ApiKey, patrol_id: str) -> Patrol:
    patrol = await uow.session.get(Patrol, patrol_id)
    if patrol is None or patrol.key_id != key.id:
        raise Rejected(404, f"no patrol {patrol_id}")
    return patrol


async def add_patrol_points(*, uow: UnitOfWork, key: apikeys.ApiKey, patrol_id: str,
                            points: Sequence[tuple[float, float, datetime]]) -> dict[str, Any]:
    """Track points of a patrol under way (an app may send them in several calls)."""
    async with uow:
        patrol = await _own_patrol(uow, key, patrol_id)
        if patrol.ended_at is not None:
            raise Rejected(409, f"patrol {patrol_id} has ended")
        await _bulk(uow, PatrolPoint.__table__, [{"patrol_id": patrol_id, "lon": lon, "lat": lat, "at": at}
                                                 for lon, lat, at in points])
        patrol.points += len(points)
        view = _patrol_view(patrol)
        await uow.commit()
        return view


async def end_patrol(*, uow: UnitOfWork, key: apikeys.ApiKey, patrol_id: str,
                     ended_at: datetime | None) -> dict[str, Any]:
    """The check-out at the end of a patrol (a retry answers the same)."""
    async with uow:
        patrol = await _own_patrol(uow, key, patrol_id)
        if patrol.ended_at is None:
            end = ended_at or utcnow()
            if end <= patrol.started_at:
                raise Rejected(422, [_error("ended_at", "a patrol ends after it started", "value_error")])
            patrol.ended_at = end
            await uow.commit()
        return _patrol_view(patrol)


async def patrol_coverage(*, uow: UnitOfWork, start: datetime, end: datetime, town_code: str | None,
                          county_code: str | None, grid_code: str | None) -> list[dict[str, Any]]:
    """Who patrolled which grid for how long in [start, end), against the 2-hours-a-day target."""
    async with uow:
        q = select(Patrol).where(Patrol.started_at < end, or_(Patrol.ended_at.is_(None), Patrol.ended_at > start))
        for column, value in ((Patrol.town_code, town_code), (Patrol.county_code, county_code),
                              (Patrol.grid_code, grid_code)):
            if value:
                q = q.where(column == value)
        rows = (await uow.session.execute(q)).scalars().all()
    spans = [PatrolSpan(p.worker_id, p.grid_code, p.started_at, p.ended_at) for p in rows]
    return [{"worker_id": c.worker_id, "grid_code": c.grid_code, "patrols": c.patrols, "seconds": c.seconds,
             "hours": round(c.seconds / 3600, 2), "days": c.days, "target_hours": c.target_seconds / 3600,
             "met": c.met} for c in coverage(spans, start=start, end=end, now=utcnow())]


# ---------------------------------------------------------------- webhooks

SIGNATURE_HEADER = "X-Mcc-Signature"
TIMESTAMP_HEADER = "X-Mcc-Timestamp"
Send = Callable[[str, bytes, dict[str, str]], Awaitable[bool]]  # (url, body, headers) → delivered (2xx)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: what a receiver recomputes to trust a delivery."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


async def set_webhook(*, uow: UnitOfWork, key_id: str, url: str) -> dict[str, Any]:
    """Push a key's event changes to `url`; answers the signing secret (shown this once)."""
    async with uow:
        key = (await uow.session.execute(select(KEYS.c.id).where(KEYS.c.id == key_id,
                                                                 KEYS.c.revoked_at.is_(None)))).first()
        if key is None:
            raise Rejected(404, f"no active key {key_id}")
        secret = secrets.token_hex(32)
        hook = await uow.session.get(Webhook, key_id)
        # A new hook starts from now: the app has read what happened before through `since`.
        now_seq = await _counter(uow, CHANGE_COUNTER)
        if hook is None:
            uow.session.add(Webhook(key_id=key_id, url=url, secret=secret, delivered_seq=now_seq,
                                    created_at=utcnow()))
        else:
            hook.url, hook.secret, hook.failures, hook.next_attempt_at = url, secret, 0, None
        await uow.commit()
    return {"key_id": key_id, "url": url, "secret": secret, "signature_header": SIGNATURE_HEADER}


async def remove_webhook(*, uow: UnitOfWork, key_id: str) -> bool:
    """Stop pushing a key's changes."""
    async with uow:
        done = (await uow.session.execute(delete(Webhook).where(Webhook.key_id == key_id))).rowcount
        await uow.commit()
    return bool(done)


async def deliver_webhooks(*, new_uow: Callable[[], UnitOfWork], send: Send, limit: int = 100) -> int:
    """One round: each due hook gets the changes in its key's scope after what it last acknowledged.

    Reads in one short transaction, sends outside any transaction (a slow receiver never holds the
    database), then advances the hook only if no one else did meanwhile. Delivery is at least once: a
    receiver dedups by (event id, change_seq). Failures back off exponentially up to five minutes.
    """
    now = utcnow()
    async with new_uow() as uow:
        rows = (await uow.session.execute(
            select(Webhook, KEYS.c.scope_unit).join(KEYS, KEYS.c.id == Webhook.key_id).where(
                KEYS.c.revoked_at.is_(None),
                or_(Webhook.next_attempt_at.is_(None), Webhook.next_attempt_at <= now)))).all()
        work = []
        for hook, scope in rows:
            q = select(GridEvent).where(GridEvent.change_seq > hook.delivered_seq) \
                .order_by(GridEvent.change_seq).limit(limit)
            if scope is not None:
                q = q.where(or_(GridEvent.town_code == scope, GridEvent.county_code == scope))
            events = [_view(_row(e)) for e in (await uow.session.execute(q)).scalars()]
            if events:
                work.append((hook.key_id, hook.url, hook.secret, hook.delivered_seq, hook.failures, events))
    delivered = 0
    for key_id, url, secret, seen, failures, events in work:
        body = json.dumps({"events": events, "cursor": events[-1]["change_seq"]}, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        try:
            ok, error = await send(url, body, {"content-type": "application/json", TIMESTAMP_HEADER: stamp,
                                              SIGNATURE_HEADER: sign(secret, stamp, body)}), None
        except Exception as exc:  # a receiver's failure is the receiver's: retry later
            ok, error = False, repr(exc)[:500]
        async with new_uow() as uow:
            values: dict[str, Any] = {"delivered_seq": events[-1]["change_seq"], "failures": 0,
                                      "next_attempt_at": None, "last_error": None} if ok else {
                "failures": failures + 1, "last_error": error or "receiver did not answer 2xx",
                "next_attempt_at": utcnow() + timedelta(seconds=min(300, 2 ** failures))}
            await uow.session.execute(update(Webhook).where(Webhook.key_id == key_id,
                                                            Webhook.delivered_seq == seen).values(**values))
            await uow.commit()
        delivered += len(events) if ok else 0
    return delivered

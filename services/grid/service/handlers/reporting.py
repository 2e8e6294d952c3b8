"""Grid workers report events (上报, 就地解决, pending): one at a time through group commit, or an offline batch."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from services.grid.adapters.uow import GridUnitOfWork
from services.grid.domain.lookup import Located
from services.grid.domain.scope import within
from services.grid.domain.states import INITIAL, EventState, Handling
from services.grid.service.handlers.common import IDEMPOTENCY, Index, field_error
from services.grid.service.handlers.views import Outcomes, _row, _view
from shared import apikeys, metrics
from shared.categories import CategoryTable
from shared.errors import Forbidden, Invalid, Problem
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import Attachment, Channel, Coordinates, IncidentReported, Location, Reporter
from shared.groupcommit import GroupCommit
from shared.idempotency import Stored, fingerprint, run_once


@dataclass(frozen=True)
class ReportGridEvent:
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
        # The fields as they are (all flat: strings, numbers, tuples of ids), not asdict's deep copy: the same JSON
        return {name: getattr(self, name) for name in _REPORT_FIELDS}


_REPORT_FIELDS = tuple(f.name for f in fields(ReportGridEvent))


def _item_problems(item: ReportGridEvent, categories: CategoryTable, prefix: str) -> list[dict[str, Any]]:
    problems = []
    if item.category_code not in categories:
        problems.append(field_error(f"{prefix}category_code", f"unknown category code {item.category_code!r} "
                                                         "(see the category code table)", "unknown_category"))
    if item.handling == Handling.RESOLVED_ON_SPOT and not item.after_photo_ids:
        problems.append(field_error(f"{prefix}after_photo_ids", "an event resolved on the spot (就地解决) needs at "
                                                           "least one photo after the fix as evidence", "missing"))
    return problems


def _scope_check(key: apikeys.ApiKey, found: Located) -> None:
    if not within(key.scope_unit, town_code=found.town_code, county_code=found.county_code):
        raise Forbidden(f"地点（{found.town_code or '未知镇街'}）不在此密钥的范围 {key.scope_unit} 内")


async def _missing_photos(uow: GridUnitOfWork, ids: Iterable[str]) -> set[str]:
    wanted = set(ids)
    return wanted - await uow.grid_events.known_photos(wanted)


async def _report_up(uow: GridUnitOfWork, row: dict[str, Any],
                     types: dict[str, tuple[str, int]] | None = None) -> None:
    # The photos travel with the incident to its work order (the bytes are in the shared attachment store).
    # `types`: the photos' (content type, size) when the caller read them already (a batch reads them once).
    photos = [(pid, "photo") for pid in row.get("photo_ids") or ()] + [
        (pid, "after_photo") for pid in row.get("after_photo_ids") or ()]
    if types is None:
        types = await uow.grid_events.photo_types([pid for pid, _ in photos])
    attachments = tuple(Attachment(id=pid, content_type=types[pid][0], size=types[pid][1], kind=kind)
                        for pid, kind in photos if pid in types)
    report = IncidentReported(
        attachments=attachments,
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
    item: ReportGridEvent
    found: Located
    prefix: str
    key: apikeys.ApiKey


async def _create_events(uow: GridUnitOfWork, entries: Sequence[_Entry], outcomes: Outcomes) -> dict[int, tuple[int, Any]]:
    """Create checked events in one go: (status, event view | error detail) per entry index.

    A batch costs a fixed number of statements plus one outbox row per reported event: existing item ids and
    photo ids are read in one query each, the change sequence is advanced once for all, the rows go in one
    multi-row INSERT. Every check comes before the first write, so a refused item leaves nothing behind.
    """
    results: dict[int, tuple[int, Any]] = {}
    client_ids = {e.item.client_id for e in entries if e.item.client_id is not None}
    existing: dict[tuple[str, str], dict[str, Any]] = {}
    if client_ids:
        rows = await uow.grid_events.by_client_ids({e.key.id for e in entries}, client_ids)
        existing = {(str(e.key_id), e.client_id): _view(_row(e)) for e in rows if e.client_id}
    wanted = {p for e in entries for p in (*e.item.photo_ids, *e.item.after_photo_ids)}
    types = await uow.grid_events.photo_types(wanted)  # what is known, and what _report_up sends on
    known = types.keys()
    now = utcnow()
    new_rows: list[tuple[int, dict[str, Any]]] = []
    for e in entries:
        item = e.item
        own = (e.key.id, item.client_id) if item.client_id is not None else None
        if own is not None and own in existing:
            results[e.index] = (200, existing[own])
            continue
        problems = [field_error(f"{e.prefix}{name}[{n}]", f"unknown photo {p}: upload it first (POST /api/v1/photos)",
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
    last = await uow.grid_events.next_change(count=len(new_rows))
    for seq, (_, row) in enumerate(new_rows, start=last - len(new_rows) + 1):
        row["change_seq"] = seq
    await uow.grid_events.add([row for _, row in new_rows])
    for index, row in new_rows:
        if row["state"] == EventState.REPORTED:
            await _report_up(uow, row, types)
            outcomes.counts.append("reported")
        elif row["state"] == EventState.RESOLVED_ON_SPOT:
            outcomes.counts.append("resolved_on_spot")
        results[index] = (201, _view(row))
    for index, (status, body) in list(results.items()):
        if status == 200 and "key_id" in body:  # an in-batch duplicate: answer with the created event's view
            results[index] = (200, _view(body))
    return results


async def report_event(*, new_uow: Callable[[], GridUnitOfWork], index: Index, categories: CategoryTable,
                       key: apikeys.ApiKey, idempotency_key: str, item: ReportGridEvent,
                       group: GroupCommit[_Entry] | None = None) -> Stored:
    """Record a grid worker's event: resolved on the spot, reported up (上报 → intake), or held pending."""
    problems = _item_problems(item, categories, "")
    if problems:
        raise Invalid.of(problems)
    found = index.locate(item.lon, item.lat)
    _scope_check(key, found)
    entry = _Entry(0, item, found, "", key)
    group = group or event_group_commit(new_uow, max_group=1)
    stored = await group.submit(entry, scope=f"grid:{key.id}:events", key=idempotency_key,
                                fingerprint=fingerprint(item.fingerprint_payload()))
    if not stored.replayed and stored.body.get("state") in (EventState.REPORTED, EventState.RESOLVED_ON_SPOT):
        metrics.GRID_EVENTS.labels(stored.body["state"]).inc()
    return stored


async def _stage_events(uow: GridUnitOfWork, entries: Sequence[_Entry]) -> list[tuple[int, Any] | Exception]:
    created = await _create_events(uow, [_Entry(n, e.item, e.found, e.prefix, e.key) for n, e in enumerate(entries)],
                                   Outcomes())
    return [Invalid.of(created[n][1], status=created[n][0]) if created[n][0] >= 400 else created[n]
            for n in range(len(entries))]


async def _stage_event(uow: GridUnitOfWork, entry: _Entry) -> tuple[int, Any]:
    answer = (await _stage_events(uow, [entry]))[0]
    if isinstance(answer, Exception):
        raise answer  # rolls the transaction back: nothing is stored for the key
    return answer


def event_group_commit(new_uow: Callable[[], GridUnitOfWork], *, max_group: int = 200) -> GroupCommit[_Entry]:
    """Single-event creates that arrive together share one transaction (see shared/groupcommit.py)."""
    return GroupCommit(new_uow, IDEMPOTENCY, stage_one=_stage_event, stage_many=_stage_events, max_group=max_group)


async def report_batch(*, new_uow: Callable[[], GridUnitOfWork], index: Index, categories: CategoryTable,
                       key: apikeys.ApiKey, idempotency_key: str,
                       items: Sequence[ReportGridEvent | list[dict[str, Any]]]) -> Stored:
    """An offline app's batch: each item its own result, the whole batch once per Idempotency-Key."""
    outcomes = Outcomes()
    payload = [i.fingerprint_payload() if isinstance(i, ReportGridEvent) else i for i in items]
    refused: dict[int, tuple[int, Any]] = {}
    entries: list[_Entry] = []
    for n, item in enumerate(items):
        prefix = f"items[{n}]."
        if not isinstance(item, ReportGridEvent):
            refused[n] = (422, item)
            continue
        problems = _item_problems(item, categories, prefix)
        if problems:
            refused[n] = (422, problems)
            continue
        found = index.locate(item.lon, item.lat)
        try:
            _scope_check(key, found)
        except Problem as exc:
            refused[n] = (exc.status, exc.detail)
            continue
        entries.append(_Entry(n, item, found, prefix, key))

    async def create(uow: GridUnitOfWork) -> tuple[int, Any]:
        outcomes.counts.clear()
        done = {**refused, **await _create_events(uow, entries, outcomes)}
        results = []
        for n, item in enumerate(items):
            status, body = done[n]
            head = {"index": n, "id": item.client_id if isinstance(item, ReportGridEvent) else None, "status": status}
            results.append({**head, "event": body} if status < 400 else {**head, "detail": body})
        counts = {s: sum(r["status"] == s for r in results) for s in (200, 201)}
        return 200, {"results": results, "created": counts[201], "existing": counts[200],
                     "failed": len(results) - counts[200] - counts[201]}

    stored = await run_once(new_uow, IDEMPOTENCY, scope=f"grid:{key.id}:batches", key=idempotency_key,
                            fingerprint=fingerprint(payload), create=create)
    if not stored.replayed:
        outcomes.record()
    return stored

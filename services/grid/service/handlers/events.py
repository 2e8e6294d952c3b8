"""A reported event afterwards: read it, resolve it on the spot, escalate it, follow changes, count outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.grid.adapters.orm import GridEvent
from services.grid.adapters.uow import GridUnitOfWork
from services.grid.domain.scope import within
from services.grid.domain.states import EventState, TransitionRefused, transition
from services.grid.service.handlers.common import field_error, require_area
from services.grid.service.handlers.reporting import _missing_photos, _report_up
from services.grid.service.handlers.views import _row, event_view
from shared import apikeys, metrics
from shared.errors import Conflict, Invalid, NotFound
from shared.events.envelope import utcnow
from shared.scope import Scope, key_scope


async def _scoped_event(uow: GridUnitOfWork, key: apikeys.ApiKey | None, event_id: str) -> GridEvent:
    event = await uow.grid_events.get(event_id)
    if event is None or (key is not None and not within(key.scope_unit, town_code=event.town_code,
                                                        county_code=event.county_code)):
        raise NotFound(f"网格事件 {event_id} 不存在")
    return event


async def get_event(*, uow: GridUnitOfWork, key: apikeys.ApiKey | None, event_id: str) -> dict[str, Any]:
    """One event, if the key's scope covers it (404 otherwise: a key does not learn what lies outside it)."""
    async with uow:
        return event_view(await _scoped_event(uow, key, event_id))


async def resolve_event(*, uow: GridUnitOfWork, key: apikeys.ApiKey, event_id: str, after_photo_ids: Sequence[str],
                        note: str | None) -> dict[str, Any]:
    """A pending event fixed on the spot (就地解决): closed with after photos, never sent to intake."""
    async with uow:
        event = await _scoped_event(uow, key, event_id)
        if event.state == EventState.RESOLVED_ON_SPOT:
            return event_view(event)  # a phone's retry
        try:
            event.state = transition(EventState(event.state), EventState.RESOLVED_ON_SPOT).value
        except TransitionRefused as exc:
            raise Conflict(str(exc)) from exc
        missing = await _missing_photos(uow, after_photo_ids)
        if missing:
            raise Invalid.of(field_error(f"after_photo_ids[{list(after_photo_ids).index(p)}]",
                                         f"unknown photo {p}: upload it first", "unknown_photo")
                             for p in sorted(missing))
        now = utcnow()
        event.after_photo_ids = list(after_photo_ids)
        event.resolution_note = note
        event.resolved_at = event.updated_at = now
        event.change_seq = await uow.grid_events.next_change()
        view = event_view(event)
        await uow.commit()
    metrics.GRID_EVENTS.labels("resolved_on_spot").inc()
    return view


async def escalate_event(*, uow: GridUnitOfWork, key: apikeys.ApiKey, event_id: str) -> dict[str, Any]:
    """A pending event the grid cannot fix goes up (提级): reported to intake, marked escalated."""
    async with uow:
        event = await _scoped_event(uow, key, event_id)
        if event.escalated:
            return event_view(event)  # a phone's retry
        try:
            event.state = transition(EventState(event.state), EventState.ESCALATED).value
        except TransitionRefused as exc:
            raise Conflict(str(exc)) from exc
        now = utcnow()
        event.escalated = True
        event.reported_at = event.updated_at = now
        await _report_up(uow, _row(event))
        event.change_seq = await uow.grid_events.next_change()
        view = event_view(event)
        await uow.commit()
    metrics.GRID_EVENTS.labels("escalated").inc()
    return view


async def changes_since(*, uow: GridUnitOfWork, key: apikeys.ApiKey, since: int, limit: int) -> dict[str, Any]:
    """Events in the key's scope that changed after the cursor, oldest change first, and the next cursor."""
    async with uow:
        events = await uow.grid_events.changed_since(after=since, limit=limit, scope=key_scope(key.scope_unit))
    items = [event_view(e) for e in events]
    return {"items": items, "cursor": items[-1]["change_seq"] if items else since, "more": len(items) == limit}


async def outcome_counts(*, uow: GridUnitOfWork, scope: Scope, town_code: str | None = None,
                         county_code: str | None = None) -> dict[str, Any]:
    """Events in the caller's scope by state, and how many were resolved on the spot, reported and escalated
    (403 for a town or county outside the scope)."""
    async with uow:
        await require_area(uow, scope, town_code=town_code, county_code=county_code)
        rows = await uow.grid_events.state_counts(scope=scope, town_code=town_code, county_code=county_code)
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

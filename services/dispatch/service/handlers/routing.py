"""Incidents become orders: routed, numbered and inserted a batch per transaction, with surge counting."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from services.dispatch.adapters import repository
from services.dispatch.adapters.unit_of_work import DispatchUnitOfWork
from services.dispatch.domain.lifecycle import (
    Action,
    Actor,
    Decision,
    Order,
    OrderState,
    decide,
)
from services.dispatch.domain.policy import DispatchPolicy
from services.dispatch.domain.surge import Surge, SurgeSettings, assess
from services.dispatch.domain.timers import next_due
from services.dispatch.service.handlers.common import (
    CONSUMER_INCIDENTS,
    ORDER_TABLE,
    PolicyHolder,
    count,
    record_transition,
)
from shared import metrics
from shared.events.catalog import EARLY_WARNING_RAISED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import (
    EarlyWarningRaised,
    IncidentAccepted,
)


async def handle_incident_accepted(event: CloudEvent[IncidentAccepted], *, uow: DispatchUnitOfWork,
                                   holder: PolicyHolder) -> None:
    """Turn a located incident into a work order sent to the unit that owns it (or a county queue)."""
    await handle_incidents_accepted([event], uow=uow, holder=holder)


async def handle_incidents_accepted(events: Sequence[CloudEvent[IncidentAccepted]], *, uow: DispatchUnitOfWork,
                                    holder: PolicyHolder) -> None:
    """Turn a batch of located incidents into work orders in one transaction (each once, whatever NATS
    redelivers: the inbox holds event ids, the unique incident id holds republished incidents)."""
    policy = holder.policy
    decisions: list[tuple[Decision, Any]] = []
    surges: list[Surge] = []
    async with uow:
        first = await uow.first_deliveries(consumer=CONSUMER_INCIDENTS, event_ids=[e.id for e in events])
        fresh: dict[str, IncidentAccepted] = {}
        for event in events:
            if event.id in first:
                fresh.setdefault(event.data.incident_id, event.data)
        if fresh:
            known = await uow.orders.known_incidents(fresh)
            incidents = [i for incident_id, i in fresh.items() if incident_id not in known]
            now = utcnow()
            numbers = await uow.take_numbers(prefix="GD", day=now.strftime("%Y%m%d"), count=len(incidents))
            rows = []
            for incident, number in zip(incidents, numbers, strict=True):
                row, decision = _new_order(incident, number, now, policy)
                rows.append(row)
                decisions.append((decision, SimpleNamespace(**row)))
            await uow.orders.add_many(rows)
            for decision, row in decisions:
                await record_transition(uow, row, event_name=decision.event, action=decision.action.value,
                                        from_state=None, actor=decision.actor.subject, reason=decision.reason,
                                        details=dict(decision.details))
            surges = await _watch_for_surges(uow, incidents, holder.surge)
        await uow.commit()
    for decision, row in decisions:
        count(decision, row)
    for surge in surges:
        metrics.EARLY_WARNINGS.labels(surge.category_group).inc()


WINDOW = timedelta(hours=1)


async def _watch_for_surges(uow: DispatchUnitOfWork, incidents: Sequence[IncidentAccepted],
                            settings: SurgeSettings) -> list[Surge]:
    """Count the incidents per hour, town and category class, and raise an early warning (one per window)
    where a count is far above its baseline."""
    counts: dict[tuple[datetime, str, str], int] = {}
    counties: dict[str, str | None] = {}
    for incident in incidents:
        loc = incident.location
        area = loc.town_code or loc.county_code
        if not area:
            continue
        moment = incident.accepted_at
        window = moment.replace(minute=0, second=0, microsecond=0)
        key = (window, area, incident.category_code[:2])
        counts[key] = counts.get(key, 0) + 1
        counties[area] = loc.county_code
    raised = []
    totals = await uow.surges.bump(counts)
    busy = {key: total for key, total in totals.items() if total >= settings.min_count}
    if not busy:
        return raised
    histories = await uow.surges.histories(busy, windows=settings.history, step=WINDOW)
    surges = {key: surge for key, total in busy.items()
              if (surge := assess(area=key[1], category_group=key[2], window_start=key[0], count=total,
                                  history=histories[key], settings=settings)) is not None}
    already = await uow.surges.warned(surges) if surges else set()
    for (window, area, group), surge in surges.items():
        if (window, area, group) in already:
            continue
        total = surge.count
        alert_id, now = str(uuid.uuid4()), utcnow()
        if await uow.surges.add_warning({
                "window_start": window, "area_code": area, "category_group": group, "id": alert_id,
                "county_code": counties.get(area), "count": total, "baseline": surge.baseline,
                "p_value": surge.p_value, "reason": surge.reason, "raised_at": now}):
            await uow.emit(EARLY_WARNING_RAISED, EarlyWarningRaised(
                alert_id=alert_id, area_code=area, county_code=counties.get(area), category_group=group,
                window_start=window, window_end=window + WINDOW, count=total, baseline=surge.baseline,
                p_value=surge.p_value, reason=surge.reason, raised_at=now), subject=area)
            raised.append(surge)
    return raised


def _new_order(incident: IncidentAccepted, number: str, now: datetime,
               policy: DispatchPolicy) -> tuple[dict[str, Any], Decision]:
    """A new order's column values, already dispatched (or queued) by the router: inserted once, at version 1.
    Plain values, not ORM objects: a batch of them goes in one multi-row INSERT."""
    loc = incident.location
    routing = policy.route(incident.category_code, loc.village_code, loc.town_code, loc.county_code)
    row: dict[str, Any] = dict.fromkeys(ORDER_TABLE.columns.keys())
    row.update(
        id=str(uuid.uuid4()), number=number, incident_id=incident.incident_id, state=OrderState.ACCEPTED.value,
        version=0, unit_code=routing.unit_code or policy.org.city_code, tier=(routing.tier or "city"),
        county_code=loc.county_code, town_code=loc.town_code, village_code=loc.village_code,
        grid_code=loc.grid_code, category_code=incident.category_code, appeal_type=incident.appeal_type.value,
        urgency=incident.urgency.value, channel=incident.channel.value, source_ref=incident.source_ref,
        title=incident.title, description=incident.description, address=loc.address,
        lon=loc.coordinates.lon if loc.coordinates else None, lat=loc.coordinates.lat if loc.coordinates else None,
        located_by=incident.located_by.value, confidential=incident.confidential,
        caller=incident.caller.model_dump() if incident.caller else None,
        attachments=[{**a.model_dump(), "added_at": now.isoformat(), "added_by": f"{incident.channel.value}"}
                     for a in incident.attachments] or None,
        reported_at=incident.reported_at, created_at=now, updated_at=now, lifecycle={}, supervised=False,
        return_count=0, reopen_count=0, escalation_count=0, urge_count=0, duplicate_count=0,
        extension_pending=False,
    )
    limits = policy.limits(place=policy.place(loc.town_code, loc.county_code), appeal_type=row["appeal_type"],
                           category_code=row["category_code"], urgency=row["urgency"])
    action = Action.QUEUE if routing.queue else Action.DISPATCH
    decision = decide(Order(id=row["id"], state=OrderState.ACCEPTED), action, Actor.system("router"), now,
                      org=policy.org, calendar=policy.calendar, settings=policy.sla.settings,
                      to_unit=routing.unit_code, limits=limits, reason=routing.reason)
    row.update(repository.row_values(SimpleNamespace(**row), decision,
                                     next_due_at=next_due(decision.order, policy.timer)))
    return row, decision



"""Incidents become orders: routed, numbered and inserted a batch per transaction, with surge counting."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from services.dispatch.adapters import repository
from services.dispatch.adapters.buckets import Key
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
from services.dispatch.domain.surge import Surge, SurgeBars, SurgeSettings, assess, surge_threshold
from services.dispatch.domain.timers import next_due
from services.dispatch.service.handlers.common import (
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
    """Turn a batch of located incidents into work orders in one transaction, each incident once whatever NATS
    redelivers. The order's unique incident id is this consumer's inbox: incidents already holding an order (a
    redelivered event, a republished incident, an overlapping county group's copy) are read first and take no
    number; the rest go in one INSERT that still skips any whose order another process inserted meanwhile, and
    only the orders it inserted get their audit row, event and count (a number lost to that race is a gap,
    which shared/counters.py allows)."""
    policy = holder.policy
    decisions: list[tuple[Decision, Any]] = []
    surges: list[Surge] = []
    learnt: dict[Key, float] = {}
    fresh: dict[str, IncidentAccepted] = {}
    for event in events:
        fresh.setdefault(event.data.incident_id, event.data)
    async with uow:
        for incident_id in await uow.orders.holding_orders(list(fresh)):
            del fresh[incident_id]
        if not fresh:
            return
        now = utcnow()
        numbers = await uow.take_numbers(prefix="GD", day=now.strftime("%Y%m%d"), count=len(fresh))
        built = [_new_order(incident, number, now, policy) for incident, number in zip(fresh.values(), numbers,
                                                                                      strict=True)]
        added = await uow.orders.add_new([row for row, _ in built])
        for row, decision in built:
            if row["incident_id"] in added:
                decisions.append((decision, SimpleNamespace(**row)))
        for decision, row in decisions:
            await record_transition(uow, row, event_name=decision.event, action=decision.action.value,
                                    from_state=None, actor=decision.actor.subject, reason=decision.reason,
                                    details=dict(decision.details))
        if added:
            surges, learnt = await _watch_for_surges(uow, [i for i in fresh.values() if i.incident_id in added],
                                                     holder.surge, holder.surge_bars)
        await uow.commit()
    holder.surge_bars.learn(learnt)
    for decision, row in decisions:
        count(decision, row)
    for surge in surges:
        metrics.EARLY_WARNINGS.labels(surge.category_group).inc()


WINDOW = timedelta(hours=1)
_COLUMNS = tuple(ORDER_TABLE.columns.keys())  # every column of a new order's row, None unless set


async def _watch_for_surges(uow: DispatchUnitOfWork, incidents: Sequence[IncidentAccepted], settings: SurgeSettings,
                            bars: SurgeBars) -> tuple[list[Surge], dict[Key, float]]:
    """Count the incidents per hour, town and category class, and raise an early warning (one per window)
    where a count is far above its baseline; the surges raised and the bars learnt (SurgeBars: to be kept once
    the transaction commits). A key whose total is below its bar is skipped: no history read, no assessment,
    no look for its warning (a window once announced, or steady traffic below its threshold, costs one upsert)."""
    counts: dict[Key, int] = {}
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
    raised: list[Surge] = []
    learnt: dict[Key, float] = {}
    totals = await uow.surges.bump(counts)
    busy = {key: total for key, total in totals.items() if total >= max(settings.min_count, bars.bar(key))}
    if not busy:
        return raised, learnt
    histories = await uow.surges.histories(busy, windows=settings.history, step=WINDOW)
    surges: dict[Key, Surge] = {}
    for key, total in busy.items():
        surge = assess(area=key[1], category_group=key[2], window_start=key[0], count=total,
                       history=histories[key], settings=settings)
        if surge is None:
            learnt[key] = surge_threshold(histories[key], settings)
        else:
            surges[key] = surge
            learnt[key] = math.inf  # announced now, or already: never again for this window
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
    return raised, learnt


def _new_order(incident: IncidentAccepted, number: str, now: datetime,
               policy: DispatchPolicy) -> tuple[dict[str, Any], Decision]:
    """A new order's column values, already dispatched (or queued) by the router: inserted once, at version 1.
    Plain values, not ORM objects: a batch of them goes in one multi-row INSERT."""
    loc = incident.location
    routing = policy.route(incident.category_code, loc.village_code, loc.town_code, loc.county_code)
    row: dict[str, Any] = dict.fromkeys(_COLUMNS)
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



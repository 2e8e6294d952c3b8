"""End-of-run checks: nothing lost, nothing doubled, every due deadline fired once, nothing stuck in an outbox or
the dead-letter stream. Each finding names the item, so a loss can be followed to its order and logs."""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.simulator.client import Endpoints, Http, Tokens
from services.simulator.driver import Outcome

CHANNEL = {"appeal": "hotline", "grid_event": "grid", "open311": "open311", "detection": "detection"}
NO_ORDER = {"emergency", "out_of_scope", "linked", "resolved_on_spot", "held", "answered"}
RUNNING_CLOCK = {"dispatched": "sign", "signed": "handle", "in_progress": "handle"}


@dataclass
class Findings:
    losses: list[str] = field(default_factory=list)  # a loss or a doubling: the run fails
    notes: list[str] = field(default_factory=list)  # worth knowing, not a loss (refused creates, slow pipeline)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # item key → final order with history
    listed: dict[str, dict[str, Any]] = field(default_factory=dict)  # item key → its one order as listed (all)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.losses


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def deadline_findings(key: str, order: dict[str, Any], now: datetime, slack: timedelta) -> list[str]:
    """A due deadline with no red warning (not fired), or a warning or escalation taken twice (fired twice)."""
    problems = []
    warnings: dict[tuple[str, str, str], int] = {}
    escalations: dict[tuple[str, str], int] = {}
    for entry in order.get("history", ()):
        details = entry.get("details") or {}
        if entry["action"] == "warn":
            mark = (details.get("clock"), details.get("level"), details.get("deadline"))
            warnings[mark] = warnings.get(mark, 0) + 1
        elif entry["action"] == "escalate" and entry.get("actor_kind") == "system":
            hop = (details.get("from_unit"), details.get("to_unit"))
            escalations[hop] = escalations.get(hop, 0) + 1
    problems += [f"{key}: order {order['number']} warned twice {m}" for m, n in warnings.items() if n > 1]
    problems += [f"{key}: order {order['number']} escalated twice {h[0]}→{h[1]}" for h, n in escalations.items()
                 if n > 1]
    clock = RUNNING_CLOCK.get(order["state"])
    deadline = _ts(order.get(f"{clock}_deadline")) if clock else None
    if deadline is not None and not order.get("extension_pending") and deadline + slack < now:
        fired = any(c == clock and lv == "red" and _ts(d) == deadline for (c, lv, d) in warnings)
        if not fired:
            problems.append(f"{key}: order {order['number']} {clock} deadline {deadline.isoformat()} passed "
                            f"{(now - deadline).total_seconds():.0f} s ago and never fired")
    return problems


async def _metric_sum(http: Http, url: str, name: str) -> float:
    r = await http.request("metrics", "GET", f"{url}/metrics")
    if r is None or r.status_code != 200:
        return float("nan")
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", r.text, re.M))


async def _dead_letters(nats_url: str) -> list[str]:
    import nats

    from shared.deadletters import list_dead_letters

    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=5, max_reconnect_attempts=2)
    try:
        return [f"dead letter {d.seq}: {d.consumer} {d.subject} {d.reason[:200]}"
                for d in await list_dead_letters(nc.jetstream(timeout=10))]
    finally:
        await nc.close()


async def _all_orders(http: Http, endpoints: Endpoints, tokens: Tokens) -> dict[str, list[dict[str, Any]]]:
    """Every order the city sees, by source reference (an order read twice across pages counted once)."""
    by_id: dict[str, dict[str, Any]] = {}
    offset, total = 0, 1
    while offset < total:
        r = await http.request("check list", "GET", f"{endpoints.dispatch}/api/v1/orders",
                               params={"view": "all", "limit": 500, "offset": offset}, headers=tokens.city())
        if r is None or r.status_code != 200:
            break
        page = r.json()
        total = page["total"]
        by_id.update((i["id"], i) for i in page["items"])
        offset += 500
    out: dict[str, list[dict[str, Any]]] = {}
    for order in by_id.values():
        out.setdefault(order["source_ref"], []).append(order)
    return out


async def check(outcomes: list[Outcome], *, endpoints: Endpoints, tokens: Tokens, http: Http,
                nats_url: str | None, settle_s: float = 120.0, deadline_slack_s: float = 60.0,
                history_limit: int = 3000) -> Findings:
    """Wait (up to `settle_s`) for the pipeline to catch up, then look for losses item by item."""
    f = Findings()
    accepted = [o for o in outcomes if o.accepted]
    f.counts = {"sent": len(outcomes), "accepted": len(accepted)}
    for o in outcomes:
        if not o.accepted:
            f.notes.append(f"{o.key}: not accepted ({o.problem})")
        elif o.disposition != o.expect:
            f.notes.append(f"{o.key}: expected {o.expect}, the service said {o.disposition}")
    sem = asyncio.Semaphore(16)

    async def orders_of(o: Outcome) -> list[dict[str, Any]]:
        async with sem:
            r = await http.request("check orders", "GET", f"{endpoints.dispatch}/api/v1/orders",
                                   params={"source_ref": o.source_ref, "view": "all"}, headers=tokens.city())
            items = r.json()["items"] if r is not None and r.status_code == 200 else []
        return [i for i in items if i.get("channel") == CHANNEL[o.kind]]

    # Every order in a few pages of 500 (cheap even for a city day), then item by item only for what a page
    # missed (pages are ordered by deadline, and the timers still move deadlines while we read)
    # A pipeline still working through a backlog is waited for (a wait is never a loss): the check gives up only
    # after `settle_s` without one more order appearing.
    settle_until = time.monotonic() + settle_s
    expected = [o for o in accepted if o.disposition == "dispatched"]
    found: dict[str, list[dict[str, Any]]] = {}
    seen = -1
    while True:
        listing = await _all_orders(http, endpoints, tokens)
        for o in expected:
            found[o.key] = [i for i in listing.get(o.source_ref, []) if i.get("channel") == CHANNEL[o.kind]]
        missing = [o for o in expected if not found[o.key]]
        for o, items in zip(missing, await asyncio.gather(*(orders_of(o) for o in missing)), strict=True):
            found[o.key] = items
        now_seen = sum(1 for o in expected if found[o.key])
        if now_seen > seen:
            seen, settle_until = now_seen, time.monotonic() + settle_s
        if now_seen == len(expected) or time.monotonic() > settle_until:
            break
        await asyncio.sleep(3)
    for o in accepted:
        if o.disposition in NO_ORDER:
            items = [i for i in listing.get(o.source_ref or "", []) if i.get("channel") == CHANNEL[o.kind]]
            if items:
                f.losses.append(f"{o.key}: {o.kind} {o.source_ref} was {o.disposition} yet became order "
                                f"{items[0]['number']}")
            continue
        items = found.get(o.key, [])
        if not items:
            f.losses.append(f"{o.key}: {o.kind} {o.source_ref} accepted ({o.disposition}) but no order "
                            f"({settle_s:.0f} s without any new order appearing)")
        elif len(items) > 1:
            f.losses.append(f"{o.key}: {o.kind} {o.source_ref} became {len(items)} orders: "
                            f"{', '.join(i['number'] for i in items)}")
        elif o.incident_id and items[0].get("incident_id") != o.incident_id:
            f.losses.append(f"{o.key}: order {items[0]['number']} carries incident {items[0].get('incident_id')}, "
                            f"the {o.kind} was incident {o.incident_id}")

    async def incident(o: Outcome) -> None:
        async with sem:
            r = await http.request("check incident", "GET", f"{endpoints.intake}/api/v1/incidents/{o.incident_id}",
                                   headers=tokens.city())
        if r is None or r.status_code != 200:
            f.losses.append(f"{o.key}: {o.kind} {o.source_ref}: intake has no incident {o.incident_id}")
        elif r.json().get("status") != "held":
            f.losses.append(f"{o.key}: detection below the threshold is {r.json().get('status')}, not held")

    # a dispatched item's order names its incident (checked above); a held detection has only its incident
    await asyncio.gather(*(incident(o) for o in accepted if o.incident_id and o.disposition == "held"))

    async def history(o: Outcome, order_id: str) -> None:
        async with sem:
            r = await http.request("check history", "GET", f"{endpoints.dispatch}/api/v1/orders/{order_id}/history",
                                   headers=tokens.city())
        if r is not None and r.status_code == 200:
            f.orders[o.key] = r.json()

    singles = [(o, items[0]["id"]) for o in accepted if len(items := found.get(o.key, [])) == 1]
    f.listed = {o.key: found[o.key][0] for o, _ in singles}
    if len(singles) > history_limit:  # a city day: every order's row was checked; the histories of a sample
        singles = random.Random(0).sample(singles, history_limit)
        f.notes.append(f"histories read for a sample of {history_limit} orders")
    await asyncio.gather(*(history(o, order_id) for o, order_id in singles))
    # A deadline not fired yet may be one a busy timer loop has not reached: read those orders again while the
    # number left goes down, and call it a loss only after `settle_s` without one of them firing.
    slack = timedelta(seconds=deadline_slack_s)
    unfired: dict[str, list[str]] = {}
    for key, order in sorted(f.orders.items()):
        found_here = deadline_findings(key, order, datetime.now().astimezone(), slack)
        f.losses += [x for x in found_here if "never fired" not in x]
        if any("never fired" in x for x in found_here):
            unfired[key] = [x for x in found_here if "never fired" in x]
    left, quiet_since = len(unfired), time.monotonic()
    by_key = {o.key: o for o in accepted}
    while unfired and time.monotonic() - quiet_since < settle_s:
        await asyncio.sleep(5)
        await asyncio.gather(*(history(by_key[k], f.orders[k]["id"]) for k in unfired))
        now = datetime.now().astimezone()
        unfired = {k: v for k in unfired
                   if (v := [x for x in deadline_findings(k, f.orders[k], now, slack) if "never fired" in x])}
        if len(unfired) < left:
            left, quiet_since = len(unfired), time.monotonic()
    for found_here in unfired.values():
        f.losses += found_here

    # An outbox is stuck when it holds events and its relay publishes nothing for `settle_s`; timers still firing
    # on a big backlog keep adding events, and a relay that keeps publishing them is working, not losing them.
    urls = (endpoints.hotline, endpoints.grid, endpoints.intake, endpoints.dispatch)
    published, quiet_since = -1.0, time.monotonic()
    while True:
        pending = sum([await _metric_sum(http, url, "mcc_outbox_pending_events") for url in urls])
        now_published = sum([await _metric_sum(http, url, "mcc_events_published_total") for url in urls])
        if pending == 0:
            break
        if now_published > published:
            published, quiet_since = now_published, time.monotonic()
        elif time.monotonic() - quiet_since > settle_s:
            f.losses.append(f"outbox: {pending:.0f} events unpublished and no event published for {settle_s:.0f} s")
            break
        await asyncio.sleep(1)
    dead = sum([await _metric_sum(http, url, "mcc_events_dead_lettered_total")
                for url in (endpoints.hotline, endpoints.grid, endpoints.intake, endpoints.dispatch)])
    if dead:
        f.losses.append(f"{dead:.0f} events dead-lettered (mcc_events_dead_lettered_total)")
    if nats_url:
        f.losses += await _dead_letters(nats_url)
    f.counts.update(orders=len(f.listed), histories=len(f.orders), losses=len(f.losses))
    return f

"""The figures of one run, from what the driver saw and the orders' histories: plain numbers for the report."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from services.simulator.client import Calls
from services.simulator.driver import Outcome

TIER_NAMES = {"town": "镇街", "county": "县区", "department": "部门", "city": "市级"}


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(*, outcomes: list[Outcome], orders: dict[str, dict[str, Any]], calls: Calls, t0_wall: datetime,
            scale: float, hours: int, unit_kinds: dict[str, str], start_h: float = 0.0,
            listed: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Arrivals and backlog per simulated hour, time to sign and close per tier, escalations per tier, calls.
    `orders` carry their histories (all of them, or a sample on a city day); `listed` is every order as listed,
    which the backlog and the states come from when given."""
    def sim_h(at: datetime) -> float:
        return (at - t0_wall).total_seconds() * scale / 3600

    arrivals: dict[str, list[int]] = defaultdict(lambda: [0] * hours)
    for o in outcomes:
        arrivals[o.kind][max(0, min(hours - 1, int(o.at_s / 3600 - start_h)))] += 1
    opened, closed = [0] * hours, [0] * hours
    to_sign: dict[str, list[float]] = defaultdict(list)
    to_close: dict[str, list[float]] = defaultdict(list)
    escalations: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    states: Counter[str] = Counter()
    for order in (listed if listed is not None else orders).values():
        states[order["state"]] += 1
        made, done = _ts(order.get("created_at")), _ts(order.get("closed_at"))
        if made is not None:
            opened[min(hours - 1, max(0, int(sim_h(made))))] += 1
        if done is not None and int(sim_h(done)) < hours:
            closed[max(0, int(sim_h(done)))] += 1
    for order in orders.values():
        history = order.get("history", [])
        first = next((_ts(h["at"]) for h in history if h["action"] in ("dispatch", "route")), None)
        tier = order.get("_first_tier") or order["tier"]
        if first is None:
            continue
        signed = next((_ts(h["at"]) for h in history if h["action"] == "sign"), None)
        done = next((_ts(h["at"]) for h in history if h["action"] == "close"), None)
        if signed:
            to_sign[tier].append((signed - first).total_seconds() * scale / 3600)
        if done:
            to_close[tier].append((done - first).total_seconds() * scale / 3600)
        for h in history:
            if h["action"] == "escalate":
                escalations[unit_kinds.get((h.get("details") or {}).get("from_unit", ""), "town")] += 1
            elif h["action"] == "warn":
                warnings[(h.get("details") or {}).get("level", "?")] += 1
    backlog, open_now = [], 0
    for h in range(hours):
        open_now += opened[h] - closed[h]
        backlog.append(open_now)
    ops: dict[str, dict[str, Any]] = {}
    by_op: dict[str, list] = defaultdict(list)
    for c in calls.items:
        by_op[c.op].append(c)
    for op, cs in sorted(by_op.items()):
        lat = [c.latency_s for c in cs]
        ops[op] = {"calls": len(cs), "errors": sum(1 for c in cs if c.status == 0 or c.status >= 500),
                   "client_4xx": sum(1 for c in cs if 400 <= c.status < 500),
                   "p50_ms": round(1000 * percentile(lat, 0.5), 1), "p95_ms": round(1000 * percentile(lat, 0.95), 1),
                   "p99_ms": round(1000 * percentile(lat, 0.99), 1)}

    def summary(values: dict[str, list[float]]) -> dict[str, dict[str, float | int | None]]:
        return {t: {"n": len(v), "median_h": _r(percentile(v, 0.5)), "p90_h": _r(percentile(v, 0.9))}
                for t, v in sorted(values.items())}

    dispositions = Counter(f"{o.kind}:{o.disposition or 'failed'}" for o in outcomes)
    n_orders = len(listed if listed is not None else orders)
    escalated_orders = sum(1 for o in (listed if listed is not None else orders).values()
                           if o.get("escalation_count", 0) > 0 or any(h["action"] == "escalate"
                                                                       for h in o.get("history", ())))
    return {
        "start_h": start_h, "arrivals_per_hour": dict(arrivals), "orders_opened_per_hour": opened, "orders_closed_per_hour": closed,
        "backlog_per_hour": backlog, "time_to_sign": summary(to_sign), "time_to_close": summary(to_close),
        "escalations_per_tier": dict(escalations), "warnings": dict(warnings), "states": dict(states),
        "dispositions": dict(dispositions), "calls": ops,
        "totals": {"items": len(outcomes), "accepted": sum(1 for o in outcomes if o.accepted), "orders": n_orders,
                   "escalated_orders": escalated_orders, "escalations": sum(escalations.values()),
                   "escalation_share": _r(escalated_orders / n_orders if n_orders else None, 4),
                   "closed": states.get("closed", 0) + states.get("followed_up", 0) + states.get("archived", 0),
                   "open_at_end": backlog[-1] if backlog else 0,
                   "client_errors": sum(op["errors"] for op in ops.values()),
                   "sign_median_h": _r(percentile([x for v in to_sign.values() for x in v], 0.5))},
    }


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)

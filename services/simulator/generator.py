"""The seeded city day: a scenario and a seed in, a time-ordered list of items out. Pure: no I/O, no clock.

Everything random is drawn here, up front, from one `random.Random(seed)`, including what the dispatchers and
the callers will do later (as z-scores and uniform draws the driver turns into delays once it knows the tier).
So the same seed gives the same stream, and `stream_hash` proves it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from services.simulator.scenario import Scenario
from shared.categories import CategoryTable
from shared.democity import cells, units

APPEAL_TYPE_NAMES = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "report": "举报",
                     "suggestion": "建议", "praise": "表扬"}
OUT_OF_SCOPE_RULES = ("litigation", "arbitration", "petition", "discipline", "disclosure")
DETECTION_CATEGORIES = ("020102", "020301", "020302")  # rubbish dumps seen from satellites (seed 000/002, Jilin)
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")


@dataclass(frozen=True)
class Item:
    """One thing that arrives: an appeal, a grid-app event, an Open311 request or a machine detection."""

    key: str  # stable within the stream: a000001, g000001, o000001, d000001
    at_s: float  # simulated seconds after 00:00 of the day
    kind: str  # appeal | grid_event | open311 | detection
    body: dict[str, Any]
    expect: str  # dispatched (an order), emergency, out_of_scope, linked, resolved_on_spot, held
    plan: dict[str, Any] = field(default_factory=dict)  # what the people on the other end will do
    link_to: str | None = None  # an earlier appeal's key (重复件)
    photos: int = 0


@dataclass(frozen=True)
class Stream:
    scenario: str
    seed: int
    day: str
    rate: float
    duration_h: float
    items: tuple[Item, ...]
    start_h: float = 0.0

    @property
    def hash(self) -> str:
        return stream_hash(self.items)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item.kind] = out.get(item.kind, 0) + 1
        return out


def stream_hash(items: tuple[Item, ...] | list[Item]) -> str:
    """SHA-256 of the canonical JSON of every item: equal hashes, equal inputs."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps(asdict(item), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # the normal approximation is plenty for hourly counts this large
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class _City:
    """The demo city's towns with the rectangles that cover them, and the category table's leaves by big class."""

    def __init__(self) -> None:
        self.towns = sorted((u.code, u.name) for u in units() if u.kind == "town")
        # Towns are not rectangles (they lie around their real seats): points are drawn inside their grids.
        self.box = {code: cells(code) for code, _ in self.towns}
        self.names = dict(self.towns)
        table = CategoryTable.load()
        self.leaves: dict[str, list[str]] = {}
        self.emergency: list[str] = []
        self.category_names: dict[str, str] = {}
        for c in table.leaves():
            self.category_names[c.code] = c.name
            if c.emergency_line:
                self.emergency.append(c.code)
            else:
                self.leaves.setdefault(c.code[:2], []).append(c.code)

    def point(self, rng: random.Random, town: str) -> dict[str, float]:
        lon0, lat0, lon1, lat1 = rng.choice(self.box[town])
        mx, my = (lon1 - lon0) * 0.05, (lat1 - lat0) * 0.05
        return {"lon": round(rng.uniform(lon0 + mx, lon1 - mx), 6), "lat": round(rng.uniform(lat0 + my, lat1 - my), 6)}

    def category(self, rng: random.Random, classes: dict[str, float]) -> str:
        wanted = {k: v for k, v in classes.items() if k in self.leaves}
        return rng.choice(sorted(self.leaves[_pick(rng, wanted)]))


def _arrivals(rng: random.Random, curve: tuple[float, ...], daily: float, start_h: float,
              duration_h: float) -> list[float]:
    total, end = sum(curve), start_h + duration_h
    times: list[float] = []
    for hour in range(int(start_h), min(24, math.ceil(end))):
        for _ in range(_poisson(rng, daily * curve[hour] / total)):
            at = (hour + rng.random()) * 3600
            if start_h * 3600 <= at < end * 3600:
                times.append(round(at, 3))
    return sorted(times)


def _plan(rng: random.Random, scenario: Scenario, *, follow_up: bool) -> dict[str, Any]:
    shares = scenario.dispatch_shares
    u = rng.random()
    if u < shares.get("return", 0):
        outcome = "return"
    elif u < shares.get("return", 0) + shares.get("extension", 0):
        outcome = "extension"
    else:
        outcome = "close"
    plan: dict[str, Any] = {"sign_z": round(rng.gauss(0, 1), 4), "handle_z": round(rng.gauss(0, 1), 4),
                            "miss_sign": rng.random() < shares.get("miss_sign", 0), "outcome": outcome}
    if follow_up:
        fu = scenario.followup
        reached = rng.random() < fu.get("reached", 0.9)
        satisfaction = _pick(rng, {s: fu.get(s, 0.0) for s in SATISFACTION} if any(fu.get(s) for s in SATISFACTION)
                             else {"satisfied": 1.0})
        dissatisfied = satisfaction == "dissatisfied"
        plan["follow_up"] = {
            "reached": reached, "satisfaction": satisfaction,
            "resolved": not dissatisfied or rng.random() < 0.3,
            "unit_at_fault": dissatisfied and rng.random() < fu.get("at_fault_if_dissatisfied", 0.5),
        }
    return plan


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _appeals(rng: random.Random, scenario: Scenario, city: _City, times: list[tuple[float, str | None, str | None]],
             ) -> list[Item]:
    shares = scenario.shares
    items: list[Item] = []
    earlier: list[Item] = []  # dispatched appeals so far: repeat callers and duplicates come from them
    for n, (at, surge_town, surge_category) in enumerate(times, 1):
        key = f"a{n:06d}"
        town = surge_town or rng.choice(city.towns)[0]
        appeal_type = _pick(rng, scenario.appeal_types)
        category = surge_category or city.category(rng, scenario.category_classes)
        body: dict[str, Any] = {"caller_phone": _phone(rng), "appeal_type": appeal_type, "category_code": category,
                                "coordinates": city.point(rng, town)}
        expect, link_to = "dispatched", None
        u = rng.random()
        if surge_town is None and u < shares.get("emergency", 0) and city.emergency:
            body["category_code"] = category = rng.choice(city.emergency)
            expect = "emergency"
        elif surge_town is None and u < shares.get("emergency", 0) + shares.get("out_of_scope", 0):
            body["scope"] = {"kind": "out_of_scope", "rule": rng.choice(OUT_OF_SCOPE_RULES)}
            expect = "out_of_scope"
        r = rng.random()
        if expect == "dispatched" and earlier and r < shares.get("duplicate", 0):
            master = rng.choice(earlier[-200:])  # the same matter again, from another caller, soon after
            body.update(category_code=master.body["category_code"], coordinates=master.body["coordinates"],
                        appeal_type=master.body["appeal_type"])
            category, expect, link_to = master.body["category_code"], "linked", master.key
        elif earlier and r < shares.get("duplicate", 0) + shares.get("repeat_caller", 0):
            body["caller_phone"] = rng.choice(earlier[-500:]).body["caller_phone"]  # calls again, another matter
        if body["appeal_type"] == "report" or rng.random() < shares.get("confidential", 0):  # a duplicate takes its master's type
            body["confidential"] = True
        where = f"{city.names[town]}"
        body["description"] = (f"{APPEAL_TYPE_NAMES[appeal_type]}：{where}附近{city.category_names[category]}，"
                               f"市民来电反映，请尽快处理（模拟 {key}）")
        item = Item(key=key, at_s=at, kind="appeal", body=body, expect=expect, link_to=link_to,
                    plan=_plan(rng, scenario, follow_up=True) if expect == "dispatched" else {})
        items.append(item)
        if expect == "dispatched":
            earlier.append(item)
    return items


def generate(scenario: Scenario, *, seed: int, day: str, rate: float = 1.0, duration_h: float = 24.0,
             start_h: float = 0.0) -> Stream:
    """The day's items, in time order. `rate` scales every volume; only arrivals in [start_h, start_h +
    duration_h) are kept (a morning peak, say), from the same draws as the whole day would make."""
    rng = random.Random(f"{scenario.name}|{seed}|{day}")
    city = _City()
    vol = {k: v * rate for k, v in scenario.volumes.items()}
    appeal_times: list[tuple[float, str | None, str | None]] = [
        (t, None, None) for t in _arrivals(rng, scenario.hourly_curve, vol["appeals"], start_h, duration_h)]
    for surge in scenario.surges:
        if surge.town not in city.box:
            raise ValueError(f"surge town {surge.town} is not a town of the demo city")
        begin, end = max(surge.start_hour, start_h), min(surge.end_hour, start_h + duration_h)
        for _ in range(_poisson(rng, surge.appeals * rate * max(0.0, end - begin)
                                / (surge.end_hour - surge.start_hour))):
            appeal_times.append((round(rng.uniform(begin, end) * 3600, 3), surge.town,
                                 rng.choice(surge.categories)))
    appeal_times.sort(key=lambda x: x[0])
    items = _appeals(rng, scenario, city, appeal_times)

    lo, hi = scenario.grid_photos
    for n, at in enumerate(_arrivals(rng, scenario.hourly_curve, vol["grid_events"], start_h, duration_h), 1):
        town = rng.choice(city.towns)[0]
        category = city.category(rng, scenario.category_classes)
        up = rng.random() < scenario.grid_escalated_share
        body = {"category_code": category, **city.point(rng, town), "reporter_id": f"gw-{town}-{rng.randint(1, 90):02d}",
                "description": f"网格员巡查发现：{city.category_names[category]}（模拟 g{n:06d}）",
                "handling": "report" if up else "resolved_on_spot", "id": f"sim-g{n:06d}"}
        if not up:
            body["resolution_note"] = "已现场处置"
        items.append(Item(key=f"g{n:06d}", at_s=at, kind="grid_event", body=body,
                          expect="dispatched" if up else "resolved_on_spot", photos=rng.randint(lo, hi),
                          plan=_plan(rng, scenario, follow_up=False) if up else {}))

    for n, at in enumerate(_arrivals(rng, scenario.hourly_curve, vol["open311"], start_h, duration_h), 1):
        town = rng.choice(city.towns)[0]
        category = city.category(rng, scenario.category_classes)
        point = city.point(rng, town)
        body = {"service_code": category, "lat": str(point["lat"]), "long": str(point["lon"]),
                "description": f"南通百通APP上报：{city.category_names[category]}（模拟 o{n:06d}）"}
        items.append(Item(key=f"o{n:06d}", at_s=at, kind="open311", body=body, expect="dispatched",
                          plan=_plan(rng, scenario, follow_up=False)))

    for n, at in enumerate(_arrivals(rng, scenario.hourly_curve, vol["detections"], start_h, duration_h), 1):
        town = rng.choice(city.towns)[0]
        category = rng.choice(DETECTION_CATEGORIES)
        low = rng.random() < scenario.detection_below_threshold
        t = scenario.detection_threshold
        confidence = round(rng.uniform(0.3, t - 0.01) if low else rng.uniform(t, 0.99), 3)
        body = {"detector": "satellite-rs", "source": "遥感", "confidence": confidence, "category_code": category,
                "coordinates": city.point(rng, town), "detection_id": f"sim-d{n:06d}",
                "evidence_url": f"https://rs.example.cn/scenes/sim-d{n:06d}.tif",
                "description": f"遥感识别疑似{city.category_names[category]}（模拟 d{n:06d}）"}
        items.append(Item(key=f"d{n:06d}", at_s=at, kind="detection", body=body,
                          expect="held" if low else "dispatched",
                          plan={} if low else _plan(rng, scenario, follow_up=False)))

    items.sort(key=lambda i: (i.at_s, i.key))
    return Stream(scenario=scenario.name, seed=seed, day=day, rate=rate, duration_h=duration_h, items=tuple(items),
                  start_h=start_h)

"""Handling rates (办理质效) and the monthly league tables (红黑榜). Pure: facts in, rates out.

Attribution: an order counts for the unit it was first dispatched to (`first_unit`), in the period of its
first dispatch (China time). A town answers for what it was given, even if the order later escalated away
from it: that is exactly what its escalation rate must show. A county's figures cover every order first
dispatched within it (the county centre, its towns and its departments); the city's cover all orders.

Every rate is numerator / denominator with both counts given; a rate whose denominator is 0 is None (no
data), never 0 % or 100 %. Definitions (also in docs/metrics.md):

  response rate 响应率          = orders signed for on time / orders dispatched, less those still inside
                                 their sign-for window at the as-of time (not missed yet: not counted)
  closed-on-time rate 按期办结率 = orders closed on time / orders closed
  resolution rate 解决率        = follow-ups saying resolved / follow-ups with an answer on resolution
  satisfaction rate 满意率      = (satisfied + basically satisfied) / follow-ups with a rating
  return rate 回退率            = orders returned at least once / orders dispatched
  reopen rate 重办率            = orders reopened at least once / orders closed
  escalation rate 提级率        = orders escalated at least once / orders dispatched
  direct-answer rate 直接答复率  = hotline appeals answered directly / hotline appeals (county and city only:
                                 the hotline answers for a county, never for a town)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8))
SATISFIED = frozenset({"satisfied", "basically_satisfied"})


@dataclass(frozen=True)
class OrderFacts:
    """What the rates need to know about one order (read from its row)."""

    first_unit: str
    dispatched_at: datetime
    signed_on_time: bool | None = None
    closed: bool = False
    closed_on_time: bool | None = None
    returned: bool = False
    reopened: bool = False
    escalated: bool = False
    satisfaction: str | None = None  # satisfied | basically_satisfied | dissatisfied
    resolved: bool | None = None
    sign_deadline: datetime | None = None  # the first unit's sign-for deadline

    def awaiting_signature(self, as_of: datetime) -> bool:
        """Not signed yet, still with its first unit, and its sign-for window still open at `as_of`: not
        missed (yet), so it is in no response-rate count."""
        return (self.signed_on_time is None and not (self.closed or self.escalated or self.returned)
                and self.sign_deadline is not None and self.sign_deadline > as_of)


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return round(self.numerator / self.denominator, 4) if self.denominator else None


RATE_NAMES = ("response", "closed_on_time", "resolution", "satisfaction", "return", "reopen", "escalation",
              "direct_answer")
LABELS = {"response": "响应率", "closed_on_time": "按期办结率", "resolution": "解决率", "satisfaction": "满意率",
          "return": "回退率", "reopen": "重办率", "escalation": "提级率", "direct_answer": "直接答复率"}


@dataclass(frozen=True)
class UnitRates:
    unit: str
    orders: int
    rates: Mapping[str, Rate] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        rate = self.rates.get(name)
        return rate.value if rate else None


def period_of(moment: datetime, period: str) -> str:
    """The period a moment falls in, in China time: 2026-11-23 (day), 2026-W48 (week), 2026-11 (month)."""
    local = moment.astimezone(CHINA).date()
    if period == "day":
        return local.isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{local.year}-{local.month:02d}"
    raise ValueError(f"period must be day, week or month, not {period!r}")


def period_bounds(label: str) -> tuple[datetime, datetime]:
    """The [start, end) of a period label in UTC-aware datetimes (China midnights)."""
    if "-W" in label:
        year, week = label.split("-W")
        start = date.fromisocalendar(int(year), int(week), 1)
        end = start + timedelta(days=7)
    elif label.count("-") == 1:
        year, month = (int(p) for p in label.split("-"))
        start = date(year, month, 1)
        end = date(year + (month == 12), month % 12 + 1, 1)
    else:
        start = date.fromisoformat(label)
        end = start + timedelta(days=1)
    as_dt = lambda d: datetime(d.year, d.month, d.day, tzinfo=CHINA)  # noqa: E731
    return as_dt(start), as_dt(end)


def real_period(label: str) -> str:
    """The label if it names a real day, ISO week or month (2026-13, 0000-00 and 2026-W99 do not)."""
    try:
        start, end = period_bounds(label)
        start.astimezone(UTC), end.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{label} 不是存在的日、周或月") from None
    return label


def compute(facts: Iterable[OrderFacts], *, direct_answers: tuple[int, int] | None = None, unit: str = "",
            as_of: datetime | None = None) -> UnitRates:
    """The rates over a set of orders as they stood at `as_of` (None: count every order as it is);
    `direct_answers` = (answered directly, all hotline appeals)."""
    items = list(facts)
    dispatched = len(items)
    due = [f for f in items if as_of is None or not f.awaiting_signature(as_of)]
    closed = [f for f in items if f.closed]
    rated = [f for f in items if f.satisfaction is not None]
    answered = [f for f in items if f.resolved is not None]
    rates = {
        "response": Rate(sum(1 for f in due if f.signed_on_time), len(due)),
        "closed_on_time": Rate(sum(1 for f in closed if f.closed_on_time), len(closed)),
        "resolution": Rate(sum(1 for f in answered if f.resolved), len(answered)),
        "satisfaction": Rate(sum(1 for f in rated if f.satisfaction in SATISFIED), len(rated)),
        "return": Rate(sum(1 for f in items if f.returned), dispatched),
        "reopen": Rate(sum(1 for f in closed if f.reopened), len(closed)),
        "escalation": Rate(sum(1 for f in items if f.escalated), dispatched),
    }
    if direct_answers is not None:
        rates["direct_answer"] = Rate(*direct_answers)
    return UnitRates(unit, dispatched, rates)


# --- 红黑榜 ---------------------------------------------------------------------------------------------------

# The composite score: the outcome rates weigh most; return, reopen and escalation rates count against.
WEIGHTS = {"response": 0.2, "closed_on_time": 0.3, "satisfaction": 0.3, "resolution": 0.2}
PENALTIES = {"return": 0.1, "reopen": 0.1, "escalation": 0.1}
DEFAULT_MIN_ORDERS = 10  # fewer orders in the month and one late order would swing the score by 10+ points


def score(rates: UnitRates) -> float | None:
    """The composite 0–100 score: the weighted mean of the rates that have data, less the penalties."""
    present = {n: rates.value(n) for n in WEIGHTS if rates.value(n) is not None}
    if not present:
        return None
    total_weight = sum(WEIGHTS[n] for n in present)
    base = sum(WEIGHTS[n] * v for n, v in present.items()) / total_weight  # type: ignore[operator]
    penalty = sum(w * (rates.value(n) or 0.0) for n, w in PENALTIES.items())
    return round(max(0.0, base - penalty) * 100, 2)


@dataclass(frozen=True)
class LeagueTable:
    red: list[tuple[UnitRates, float]]  # 红榜: the best, best first
    black: list[tuple[UnitRates, float]]  # 黑榜: the worst, worst first
    ranked: list[tuple[UnitRates, float]]
    excluded: list[UnitRates]  # too few orders to rank fairly


def league(rates: Iterable[UnitRates], *, size: int = 5, min_orders: int = DEFAULT_MIN_ORDERS) -> LeagueTable:
    """Top and bottom `size` by score; units with fewer than `min_orders` orders (or no score yet) are listed
    apart. Each list takes at most half of the ranked units, so no unit is both red and black (a lone unit
    is on neither). Ties are broken by more orders, then by unit code, so the table is the same every time."""
    eligible, excluded = [], []
    for r in rates:
        s = score(r) if r.orders >= min_orders else None
        (eligible if s is not None else excluded).append((r, s) if s is not None else r)
    ranked = sorted(eligible, key=lambda rs: (-rs[1], -rs[0].orders, rs[0].unit))
    n = min(size, len(ranked) // 2)
    black = sorted(ranked[n:], key=lambda rs: (rs[1], -rs[0].orders, rs[0].unit))[:n]
    return LeagueTable(ranked[:n], black, ranked, excluded)  # type: ignore[arg-type]


def _header() -> list[str]:
    header = ["周期 period", "单位代码 unit", "单位 name", "工单数 orders", "综合得分 score"]
    for n in RATE_NAMES:
        header += [f"{LABELS[n]} {n}_rate", f"{LABELS[n]}分子 {n}_numerator", f"{LABELS[n]}分母 {n}_denominator"]
    return header


def _line(r: UnitRates, names: Mapping[str, str] | None, period: str) -> list[object]:
    unit_score = score(r)
    line: list[object] = [period, r.unit, (names or {}).get(r.unit, ""), r.orders,
                          "" if unit_score is None else unit_score]
    for n in RATE_NAMES:
        rate = r.rates.get(n)
        line += ["" if rate is None or rate.value is None else rate.value,
                 "" if rate is None else rate.numerator, "" if rate is None else rate.denominator]
    return line


def _with_bom(lines: Iterable[list[object]]) -> str:
    """CSV, UTF-8 with BOM so spreadsheet programs (Excel) read the Chinese."""
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    return "\ufeff" + out.getvalue()


def to_csv(rows: Iterable[UnitRates], *, names: Mapping[str, str] | None = None, period: str = "") -> str:
    """CSV with a Chinese/English header, UTF-8 with BOM so spreadsheet programs read the Chinese."""
    return _with_bom([_header(), *(_line(r, names, period) for r in rows)])


def league_to_csv(table: LeagueTable, *, names: Mapping[str, str] | None = None, period: str = "") -> str:
    """The league table as CSV (UTF-8 with BOM): 红榜, then 黑榜, then every ranked unit, then those set apart."""
    rows = ([("红榜 red", i + 1, r) for i, (r, _) in enumerate(table.red)]
            + [("黑榜 black", i + 1, r) for i, (r, _) in enumerate(table.black)]
            + [("排名 ranked", i + 1, r) for i, (r, _) in enumerate(table.ranked)]
            + [("未排名 excluded", "", r) for r in table.excluded])
    return _with_bom([["榜单 list", "名次 rank", *_header()],
                      *([kind, rank, *_line(r, names, period)] for kind, rank, r in rows)])

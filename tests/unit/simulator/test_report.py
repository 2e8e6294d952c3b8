"""The report: a policy comparison says what changed and highlights it; the page needs nothing from the web."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from services.simulator import report
from services.simulator.client import Call, Calls
from services.simulator.driver import Outcome
from services.simulator.figures import figures

T0 = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def _at(hours: float) -> str:
    return (T0 + timedelta(seconds=hours * 3600 / 720)).isoformat()  # at 720×, a simulated hour is 5 s


def _run(label: str, escalations: int, response: float) -> dict:
    outcomes = [Outcome(f"a{n}", "appeal", "dispatched", 9 * 3600 + n, status=201, disposition="dispatched",
                        first_tier="town") for n in range(4)]
    history = [{"action": "dispatch", "at": _at(0)}, {"action": "sign", "at": _at(0.5)},
               {"action": "close", "at": _at(2)}]
    esc = [{"action": "escalate", "at": _at(1), "details": {"from_unit": "320612101", "to_unit": "320612"}}]
    orders = {o.key: {"state": "closed", "tier": "town", "_first_tier": "town", "created_at": _at(0),
                      "closed_at": _at(2),
                      "history": history + (esc if n < escalations else [])} for n, o in enumerate(outcomes)}
    calls = Calls(items=[Call("hotline create", 201, 0.05, 1.0), Call("action sign", 500, 0.2, 2.0)])
    fig = figures(outcomes=outcomes, orders=orders, calls=calls, t0_wall=T0, scale=720, hours=4,
                  unit_kinds={"320612101": "town"}, start_h=9)
    rates = [{"unit_code": "320600", "orders": 4, "rates": {"response": {"value": response}}}]
    return {"label": label, "stream_hash": "h", "figures": fig, "findings": {"losses": [], "notes": []},
            "rates": [], "city_rates": rates, "league": None, "outcomes": outcomes, "calls": calls}


def test_figures_count_arrivals_times_and_escalations_per_tier():
    fig = _run("A", 2, 0.9)["figures"]
    assert fig["arrivals_per_hour"]["appeal"] == [4, 0, 0, 0]
    assert fig["backlog_per_hour"] == [4, 4, 0, 0] and fig["states"] == {"closed": 4}
    assert fig["time_to_sign"]["town"]["median_h"] == 0.5 and fig["time_to_close"]["town"]["median_h"] == 2
    assert fig["escalations_per_tier"] == {"town": 2} and fig["totals"]["escalated_orders"] == 2
    assert fig["calls"]["action sign"]["errors"] == 1 and fig["totals"]["client_errors"] == 1


def test_a_policy_comparison_states_the_change_and_highlights_what_differs():
    runs = [_run("现行", 2, 0.90), _run("签收2小时", 3, 0.84)]
    line = report.headline(runs)
    assert "提级 +50 %" in line and "响应率 -6 个百分点" in line
    table = report.comparison(runs)
    assert re.search(r'<tr class="diff"><td>escalations</td><td>2</td><td>3</td>', table)
    assert '<tr class=""><td>orders</td>' not in table and "<tr><td>orders</td>" in table  # same: not highlighted


def test_the_report_page_inlines_its_plots_and_links_nothing_outside(tmp_path):
    page = report.write(tmp_path, [_run("现行", 2, 0.9), _run("签收2小时", 3, 0.84)], title="模拟").read_text()
    assert page.count("<svg") == 10 and not re.search(r"<script[^>]*\bsrc=", page)  # pygal's inline config only
    urls = set(re.findall(r'(?:src|href)="([^"#]+)"', page))
    assert not urls, urls
    assert json.loads((tmp_path / "summary.json").read_text())[1]["label"] == "签收2小时"
    assert (tmp_path / "outcomes-2.csv").read_text().count("\n") == 5


def test_a_reports_outcomes_read_back_as_they_were_for_a_recheck(tmp_path):
    run = _run("现行", 1, 0.9)
    run["outcomes"][0].actions.extend(["sign", "close"])
    run["outcomes"][1].problem = "create answered 422: 类别不存在"
    report.write(tmp_path, [run], title="模拟")
    assert report.read_outcomes(tmp_path) == run["outcomes"]

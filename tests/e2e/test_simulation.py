"""`mcc simulate` on a small day, twice (policy replay on fresh private stacks): nothing is lost or doubled, every
due deadline fires once, and a tighter sign-for limit produces more escalations."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from services.cli import main
from services.simulator import scenario

# A few hundred items in a morning peak, with dispatchers quick enough that orders close within the run.
SMALL_DAY = {"volumes": {"appeals": 700, "grid_events": 350, "open311": 60, "detections": 40},
             "dispatch": {"sign_hours": {"default": {"median": 0.6, "sigma": 0.8}},
                          "handle_hours": {"default": {"median": 1.0, "sigma": 0.5}},
                          "shares": {"return": 0.05, "extension": 0.05, "miss_sign": 0.05}}}
TIGHT = {"name": "tight", "title": "签收时限0.3小时", "sla": {
    "version": 1, "settings": {"return_window": "2wd", "extension_max": "10wd", "yellow_share": 0.75},
    "rules": [{"sign": "0.3h", "handle": "10wd"}]}}


def test_a_small_day_under_two_policies_loses_nothing_and_the_tighter_sign_limit_escalates_more(tmp_path: Path):
    raw = yaml.safe_load((scenario.SCENARIO_DIR / "weekday.yaml").read_text(encoding="utf-8"))
    raw.update(name="small", volumes=SMALL_DAY["volumes"])
    raw["dispatch"].update(SMALL_DAY["dispatch"])
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    (tmp_path / "tight.yaml").write_text(yaml.safe_dump(TIGHT, allow_unicode=True), encoding="utf-8")

    code = main(["simulate", "--scenario", str(tmp_path / "small.yaml"), "--seed", "3", "--day", "2026-12-02",
                 "--start-hour", "9", "--duration", "1.2", "--tail", "2.5", "--scale", "720",
                 "--policy", "current", "--policy", str(tmp_path / "tight.yaml"), "--out", str(tmp_path / "report")])

    runs = json.loads((tmp_path / "report" / "summary.json").read_text(encoding="utf-8"))
    assert [r["findings"]["losses"] for r in runs] == [[], []] and code == 0
    assert runs[0]["stream_hash"] == runs[1]["stream_hash"]  # the same day, item for item
    current, tight = (r["figures"]["totals"] for r in runs)
    assert 100 <= current["items"] <= 300 and current["orders"] >= 50
    assert current["accepted"] == current["items"] == tight["accepted"]
    assert runs[0]["figures"]["dispositions"].get("grid_event:resolved_on_spot")
    assert all(sum(t["n"] for t in r["figures"]["time_to_sign"].values()) > 0 for r in runs)  # dispatchers signed
    assert tight["escalations"] > current["escalations"]
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "策略对比" in page and page.count("<svg") >= 10 and 'class="diff"' in page

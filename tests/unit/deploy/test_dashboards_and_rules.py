"""Grafana dashboards and Prometheus rules only name metrics the services expose, and parse as their tools
expect (promtool checks the rules too when it is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import shared.metrics  # noqa: F401 - declares every mcc metric in the default registry

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
METRIC = re.compile(r"\b(mcc_[a-z0-9_]+)\b")


def exposed_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names.update(f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return {n for n in names if n.startswith("mcc_")}


def unknown_metrics(expr: str) -> set[str]:
    return set(METRIC.findall(expr)) - exposed_names()


def dashboard_exprs(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in dashboard.get("templating", {}).get("list", [])]
    return exprs


def test_there_are_city_county_and_town_dashboards():
    assert {p.name for p in DASHBOARDS} >= {"mcc-city.json", "mcc-county.json", "mcc-town.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_a_dashboard_is_valid_and_names_only_exposed_metrics(path):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and panel["datasource"]["uid"] == "prometheus"
    defined = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    for expr in dashboard_exprs(dashboard):
        assert METRIC.search(expr), expr
        assert not unknown_metrics(expr), (expr, unknown_metrics(expr))
        assert set(re.findall(r"\$(\w+)", expr)) <= defined, expr


def test_the_metric_check_catches_a_name_no_service_exposes():
    assert unknown_metrics("sum(rate(mcc_orders_dispatched_total[5m]))") == set()
    assert unknown_metrics("sum(rate(mcc_orders_teleported_total[5m]))") == {"mcc_orders_teleported_total"}
    assert unknown_metrics("histogram_quantile(0.9, rate(mcc_order_time_to_sign_seconds_bucket[1h]))") == set()


def test_the_datasource_the_dashboards_use_is_provisioned():
    config = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert {d["uid"] for d in config["datasources"]} == {"prometheus"}


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_a_rule_file_has_complete_alerts_on_exposed_metrics(path):
    groups = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    assert groups
    for group in groups:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["labels"]["severity"] in ("info", "warning", "critical")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert re.fullmatch(r"\d+[smh]", str(rule["for"])), rule["for"]
            assert not unknown_metrics(rule["expr"]), (rule["alert"], unknown_metrics(rule["expr"]))


def test_the_alerts_the_issue_asks_for_are_there():
    alerts = {r["alert"] for path in RULES for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]}
    assert alerts >= {"ServiceDown", "OverdueBacklog", "EscalationSurge", "ConsumerLagging", "DeadLetters"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed (Debian package prometheus; not on PyPI)")
def test_promtool_accepts_the_rules():
    result = subprocess.run(["promtool", "check", "rules", *map(str, RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

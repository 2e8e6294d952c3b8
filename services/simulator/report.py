"""The report: one HTML page that opens offline (inline SVG plots from pygal, no scripts from anywhere), with the
raw figures beside it as JSON and CSV."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

import pygal
from pygal.style import CleanStyle

from services.simulator.driver import Outcome
from services.simulator.figures import TIER_NAMES

KIND_NAMES = {"appeal": "12345热线", "grid_event": "网格事件", "open311": "Open311", "detection": "遥感识别"}
STYLE = CleanStyle(font_family="'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif")


def _svg(chart: pygal.graph.graph.Graph) -> str:
    return chart.render(is_unicode=True, disable_xml_declaration=True)


def _config(title: str, **kw: Any) -> dict[str, Any]:
    # js=[]: pygal links its tooltip script from the web by default; the report must open offline
    return {"title": title, "style": STYLE, "js": [], "width": 760, "height": 340, "explicit_size": True, **kw}


def charts(fig: dict[str, Any], label: str = "") -> dict[str, str]:
    start = int(fig.get("start_h", 0))
    hours = [f"{(start + h) % 24:02d}" for h in range(len(fig["backlog_per_hour"]))]
    arrivals = pygal.StackedBar(**_config(f"每小时到达量 {label}", x_title="模拟时刻（时）"))
    arrivals.x_labels = hours
    for kind, counts in sorted(fig["arrivals_per_hour"].items()):
        arrivals.add(KIND_NAMES.get(kind, kind), counts)
    backlog = pygal.Line(**_config(f"每小时积压工单 {label}", x_title="模拟时刻（时）"))
    backlog.x_labels = hours
    backlog.add("未办结", fig["backlog_per_hour"])
    backlog.add("新派单", fig["orders_opened_per_hour"])
    backlog.add("办结", fig["orders_closed_per_hour"])
    timing = pygal.Bar(**_config(f"签收、办结用时（模拟小时，中位数/P90）{label}"))
    tiers = sorted(set(fig["time_to_sign"]) | set(fig["time_to_close"]))
    timing.x_labels = [TIER_NAMES.get(t, t) for t in tiers]
    for name, part, stat in (("签收中位数", "time_to_sign", "median_h"), ("签收P90", "time_to_sign", "p90_h"),
                             ("办结中位数", "time_to_close", "median_h"), ("办结P90", "time_to_close", "p90_h")):
        timing.add(name, [fig[part].get(t, {}).get(stat) for t in tiers])
    esc = pygal.Bar(**_config(f"各层级提级次数 {label}"))
    esc_tiers = sorted(fig["escalations_per_tier"]) or ["town"]
    esc.x_labels = [TIER_NAMES.get(t, t) for t in esc_tiers]
    esc.add("提级", [fig["escalations_per_tier"].get(t, 0) for t in esc_tiers])
    latency = pygal.HorizontalBar(**_config(f"客户端延迟 P95（毫秒）{label}", height=420))
    ops = sorted(fig["calls"])
    latency.x_labels = ops
    latency.add("P95", [fig["calls"][op]["p95_ms"] for op in ops])
    latency.add("P50", [fig["calls"][op]["p50_ms"] for op in ops])
    return {"arrivals": _svg(arrivals), "backlog": _svg(backlog), "timing": _svg(timing), "escalations": _svg(esc),
            "latency": _svg(latency)}


def _table(rows: list[list[Any]], head: list[str], classes: list[str] | None = None) -> str:
    out = ["<table><thead><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape('—' if c is None else str(c))}</td>" for c in row)
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


CSS = """body{font-family:'WenQuanYi Micro Hei','Noto Sans CJK SC',sans-serif;margin:2em;max-width:1600px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}.fail{color:#b00;font-weight:bold}.ok{color:#070;font-weight:bold}
.diff{background:#fff3b0;font-weight:bold}.plots{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0}.side{display:flex;gap:24px;flex-wrap:wrap}.side>section{flex:1;min-width:700px}"""


def _rates_rows(rates: list[dict[str, Any]] | None) -> list[list[Any]]:
    rows = []
    for item in sorted(rates or [], key=lambda r: -r.get("orders", 0))[:120]:
        r = item.get("rates", {})
        rows.append([item.get("unit_name") or item.get("unit_code"), item.get("unit_code"), item.get("orders"),
                     *(None if r.get(k, {}).get("value") is None else f"{100 * r[k]['value']:.1f}%"
                       for k in ("response", "closed_on_time", "satisfaction", "resolution", "escalation"))])
    return rows


def run_section(run: dict[str, Any]) -> str:
    fig, findings = run["figures"], run["findings"]
    t = fig["totals"]
    verdict = ('<p class="ok">核查通过：无丢失、无重复、到期时限均已触发一次、无积压事件与死信。</p>' if not findings["losses"]
               else f'<p class="fail">核查发现 {len(findings["losses"])} 处丢失/重复：</p><ul>'
               + "".join(f"<li>{html.escape(x)}</li>" for x in findings["losses"][:100]) + "</ul>")
    figs = "".join(f'<figure class="plot" data-plot="{k}">{svg}</figure>' for k, svg in charts(fig).items())
    summary = _table([[k, v] for k, v in {**t, **fig.get("simulator", {})}.items()], ["指标", "数值"])
    calls = _table([[op, *v.values()] for op, v in fig["calls"].items()],
                   ["调用", "次数", "错误(无应答/5xx)", "4xx", "P50 ms", "P95 ms", "P99 ms"])
    rates = _table(_rates_rows(run.get("rates")), ["单位", "代码", "工单", "响应率", "按期办结率", "满意率", "解决率", "提级率"])
    league = run.get("league") or {}
    red = _table([[x.get("unit_name"), x.get("score")] for x in league.get("red", [])], ["红榜", "得分"])
    black = _table([[x.get("unit_name"), x.get("score")] for x in league.get("black", [])], ["黑榜", "得分"])
    return (f"<h2>{html.escape(run['label'])}</h2>{verdict}<p>输入流哈希 <code>{run['stream_hash']}</code></p>"
            f"{summary}<div class='plots'>{figs}</div><h3>办理率（rates API，模拟时段）</h3>{rates}"
            f"<h3>红黑榜</h3><div class='side'>{red}{black}</div><h3>客户端错误与延迟</h3>{calls}")


def comparison(runs: list[dict[str, Any]]) -> str:
    """Key figures side by side; a row whose values differ by more than 5 % is highlighted."""
    keys = ["orders", "escalations", "escalated_orders", "escalation_share", "closed", "open_at_end",
            "sign_median_h", "client_errors"]
    rows, classes = [], []
    for k in keys:
        values = [r["figures"]["totals"].get(k) for r in runs]
        rows.append([k, *values, _delta(values[0], values[-1])])
        classes.append("diff" if _differs(values[0], values[-1]) else "")
    for rate in ("response", "closed_on_time", "escalation", "satisfaction"):
        values = [_city_rate(r, rate) for r in runs]
        rows.append([f"rate:{rate}", *(None if v is None else f"{100 * v:.1f}%" for v in values),
                     None if None in (values[0], values[-1]) else f"{100 * (values[-1] - values[0]):+.1f} 个百分点"])
        classes.append("diff" if _differs(values[0], values[-1]) else "")
    return _table(rows, ["指标", *(r["label"] for r in runs), "差异（末列相对首列）"], classes)


def headline(runs: list[dict[str, Any]]) -> str:
    """One sentence per later policy against the first: what the change did to escalations, backlog and rates."""
    base, lines = runs[0], []
    for other in runs[1:]:
        a, b = base["figures"]["totals"], other["figures"]["totals"]
        parts = []
        for key, name in (("escalations", "提级"), ("open_at_end", "期末积压"), ("closed", "办结")):
            if a.get(key):
                parts.append(f"{name} {100 * (b[key] - a[key]) / a[key]:+.0f} %")
            elif b.get(key):
                parts.append(f"{name} 0 → {b[key]}")
        for rate, name in (("response", "响应率"), ("closed_on_time", "按期办结率")):
            ra, rb = _city_rate(base, rate), _city_rate(other, rate)
            if ra is not None and rb is not None:
                parts.append(f"{name} {100 * (rb - ra):+.0f} 个百分点")
        lines.append(f"<p class='headline'><b>{html.escape(other['label'])}</b>（相对 {html.escape(base['label'])}）："
                     f"{html.escape('，'.join(parts) or '无可比数据')}</p>")
    return "".join(lines)


def _city_rate(run: dict[str, Any], rate: str) -> float | None:
    items = run.get("city_rates") or []
    return items[0].get("rates", {}).get(rate, {}).get("value") if items else None


def _delta(a: Any, b: Any) -> str | None:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None
    return f"{b - a:+g}" + (f"（{100 * (b - a) / a:+.0f} %）" if a else "")


def _differs(a: Any, b: Any) -> bool:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return False
    return abs(b - a) > 0.05 * max(abs(a), abs(b), 1e-9)


def write(out: Path, runs: list[dict[str, Any]], *, title: str) -> Path:
    """report.html, summary.json, and per run outcomes-<n>.csv and calls-<n>.csv."""
    out.mkdir(parents=True, exist_ok=True)
    for n, run in enumerate(runs, 1):
        with (out / f"outcomes-{n}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["key", "kind", "expect", "at_s", "status", "disposition", "source_ref", "incident_id",
                        "order_id", "first_tier", "actions", "problem"])
            for o in run["outcomes"]:
                w.writerow([o.key, o.kind, o.expect, o.at_s, o.status, o.disposition, o.source_ref, o.incident_id,
                            o.order_id, o.first_tier, " ".join(o.actions), o.problem])
        with (out / f"calls-{n}.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["op", "status", "latency_s", "at_s"])
            w.writerows([c.op, c.status, round(c.latency_s, 4), round(c.at, 3)] for c in run["calls"].items)
    summary = [{k: v for k, v in run.items() if k not in ("outcomes", "calls")} for run in runs]
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    body = [f"<h1>{html.escape(title)}</h1>"]
    if len(runs) > 1:
        body.append(f"<h2>策略对比</h2>{headline(runs)}{comparison(runs)}<div class='side'>")
        body += [f"<section>{run_section(run)}</section>" for run in runs]
        body.append("</div>")
    else:
        body.append(run_section(runs[0]))
    body.append("<p>原始数据：summary.json、outcomes-N.csv（每件）、calls-N.csv（每次调用）。</p>")
    page = (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def read_outcomes(out: Path, n: int = 1) -> list[Outcome]:
    """The items of run `n` as `write` stored them (for `mcc simulate --recheck`)."""
    with (out / f"outcomes-{n}.csv").open(encoding="utf-8") as fh:
        return [Outcome(key=r["key"], kind=r["kind"], expect=r["expect"], at_s=float(r["at_s"]),
                        status=int(r["status"] or 0), disposition=r["disposition"] or None,
                        source_ref=r["source_ref"] or None, incident_id=r["incident_id"] or None,
                        order_id=r["order_id"] or None, first_tier=r["first_tier"] or None,
                        actions=r["actions"].split(), problem=r["problem"] or None)
                for r in csv.DictReader(fh)]

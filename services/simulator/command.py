"""`mcc simulate`: generate the day, drive a stack with it (or a private stack per policy), check, report."""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from services.simulator import generator, report, scenario
from services.simulator.checks import check
from services.simulator.client import Calls, Endpoints, Http, Tokens
from services.simulator.driver import Driver
from services.simulator.figures import figures
from services.simulator.stack import OwnStack, issue_intake_key, token_secret

CHINA = timezone(timedelta(hours=8))
POLICY_DIR = Path(__file__).parent / "policies"


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="drive mcc with a seeded city day, check for losses, write a report")
    p.add_argument("--scenario", default="weekday", help=f"shipped ({', '.join(scenario.available())}) or a path")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--day", default=datetime.now(CHINA).date().isoformat(), help="the simulated date (a label "
                   "and part of the seed)")
    p.add_argument("--scale", type=float, default=144.0, help="simulated seconds per real second; must equal the "
                   "stack's MCC_DISPATCH_TIME_SCALE (144: a day in 10 minutes)")
    p.add_argument("--rate", type=float, default=1.0, help="multiplies every volume of the scenario (0.03: a small day)")
    p.add_argument("--duration", type=float, default=24.0, help="simulated hours of arrivals")
    p.add_argument("--start-hour", type=float, default=0.0, help="the hour of the day the arrivals start (default 0)")
    p.add_argument("--tail", type=float, default=24.0, help="simulated hours after the arrivals for the closing work")
    p.add_argument("--policy", action="append", default=[], help="policy replay: a YAML with sla and/or escalation "
                   "(inline or a path), or a shipped one (current, sign-2h); each runs the same day on a fresh "
                   "private stack")
    p.add_argument("--own-stack", action="store_true", help="start a private stack (fresh databases) for the run")
    p.add_argument("--out", default=None, help="report directory (default var/simulations/<scenario>-<seed>-<time>)")
    p.add_argument("--hash-only", action="store_true", help="print the generated stream's hash and counts, send nothing")
    p.add_argument("--recheck", default=None, metavar="DIR", help="run the end-of-run checks again for a report "
                   "directory's outcomes-1.csv against the stack (once its pipeline has caught up); send nothing")
    p.add_argument("--nats-url", default=os.environ.get("MCC_NATS_URL", "nats://127.0.0.1:14222"),
                   help="for the dead-letter check (mcc up's NATS by default)")
    p.add_argument("--intake-key", default=os.environ.get("MCC_SIM_INTAKE_KEY"),
                   help="an intake API key (default: issue one with `mcc apikey issue --service intake`)")
    for name, port in (("hotline", 8002), ("grid", 8003), ("intake", 8001), ("dispatch", 8004)):
        p.add_argument(f"--{name}-url", default=f"http://127.0.0.1:{os.environ.get(f'MCC_{name.upper()}_PORT', port)}")
    p.set_defaults(func=cmd_simulate)


def load_policy(path: str, workdir: Path) -> dict[str, Any]:
    """A policy file: {name, title, sla, escalation, duties}, each part a whole document inline or a path (a part
    left out keeps the shipped file); inline parts are written to files for the private stack."""
    if not Path(path).suffix:
        path = str(POLICY_DIR / f"{path}.yaml")
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    name = str(raw.get("name") or Path(path).stem)
    files: dict[str, str | None] = {}
    for part in ("sla", "escalation", "duties"):
        value = raw.get(part)
        if isinstance(value, dict):
            target = workdir / f"{name}-{part}.yaml"
            target.write_text(yaml.safe_dump(value, allow_unicode=True), encoding="utf-8")
            files[part] = str(target)
        elif isinstance(value, str):
            files[part] = str((Path(path).parent / value).resolve())
        else:
            files[part] = None
    return {"name": name, "title": str(raw.get("title", name)), **files}


def _progress(label: str, total: int):  # noqa: ANN202
    last = [0.0]

    def show(d: Driver) -> None:
        now = time.monotonic()
        if now - last[0] < 1.5 and d.progress.sent < total:
            return
        last[0] = now
        p, lat = d.progress, sorted(c.latency_s for c in d.calls.items[-2000:])
        p95 = f"{1000 * lat[int(0.95 * (len(lat) - 1))]:.0f} ms" if lat else "-"
        hours = d.sim_hours() if d.t0 else 0.0
        line = (f"[{label}] 模拟 {int(hours):02d}:{int(hours % 1 * 60):02d}  sent {p.sent}/{total}  accepted "
                f"{p.accepted}  orders {p.orders}  signed {p.signed}  closed {p.closed}  follow-ups {p.followed_up}"
                f"  errors {d.calls.errors()}  p95 {p95}")
        print(line, file=sys.stderr, flush=True)
    return show


async def simulate_once(stream: generator.Stream, scn: scenario.Scenario, *, endpoints: Endpoints, secret: str,
                        intake_key: str, scale: float, tail_h: float, nats_url: str | None, label: str,
                        quiet: bool = False) -> dict[str, Any]:
    """One run against one stack: drive, check, read the rates; everything the report needs."""
    tokens = Tokens(secret)
    tag = f"sim{int(time.time())}"
    driver = Driver(stream, scn, endpoints=endpoints, tokens=tokens, scale=scale, intake_key=intake_key,
                    run_tag=tag, tail_h=tail_h, on_progress=None if quiet else _progress(label, len(stream.items)))
    started = datetime.now(UTC)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    try:
        await driver.run()
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        sim_cpu = cpu.ru_utime + cpu.ru_stime - cpu0.ru_utime - cpu0.ru_stime
        outcomes = list(driver.outcomes.values())
        findings = await check(outcomes, endpoints=endpoints, tokens=tokens, http=driver.http, nats_url=nats_url)
        for o in outcomes:
            if o.key in findings.orders:
                findings.orders[o.key]["_first_tier"] = o.first_tier
        kinds = {code: u.get("kind", "") for code, u in driver.units.items()}
        lags = sorted(o.lag_s for o in outcomes)
        fig = figures(outcomes=outcomes, orders=findings.orders, calls=driver.calls, t0_wall=started, scale=scale,
                      hours=int(stream.duration_h + tail_h + 0.999), unit_kinds=kinds,
                      start_h=stream.start_h, listed=findings.listed)
        days = sorted({d.astimezone(CHINA).date().isoformat() for d in (started, datetime.now(UTC))})
        rates, city_rates, league = [], [], None
        for day in days:
            for tier, into in (("town", rates), ("city", city_rates)):
                r = await driver.http.request("rates", "GET", f"{endpoints.dispatch}/api/v1/rates",
                                              params={"tier": tier, "period": day}, headers=tokens.city())
                if r is not None and r.status_code == 200:
                    into.extend(r.json())
        r = await driver.http.request("league", "GET", f"{endpoints.dispatch}/api/v1/rates/league",
                                      params={"tier": "town", "month": days[-1][:7], "min_orders": 1},
                                      headers=tokens.city())
        league = r.json() if r is not None and r.status_code == 200 else None
        fig["simulator"] = {"cpu_s": round(sim_cpu, 2), "cpu_ms_per_call": round(1000 * sim_cpu / max(1, len(
            driver.calls.items)), 2), "calls": len(driver.calls.items),
            "send_lag_p50_s": lags[len(lags) // 2] if lags else None,
            "send_lag_max_s": lags[-1] if lags else None, "load_average": os.getloadavg()}
    finally:
        await driver.http.close()
    return {"label": label, "scenario": stream.scenario, "seed": stream.seed, "day": stream.day,
            "stream_hash": stream.hash, "counts": stream.counts(), "scale": scale, "started": started.isoformat(),
            "figures": fig, "findings": {"losses": findings.losses, "notes": findings.notes[:200],
                                          "counts": findings.counts},
            "rates": rates, "city_rates": city_rates, "league": league, "outcomes": outcomes, "calls": driver.calls}


def _run_on_own_stack(args: argparse.Namespace, stream: generator.Stream, scn: scenario.Scenario, workdir: Path,
                      policy: dict[str, Any] | None) -> dict[str, Any]:
    label = policy["title"] if policy else "本次模拟"
    stack = OwnStack.start(workdir / (policy["name"] if policy else "stack"), scale=args.scale,
                           sla_file=policy and policy["sla"], escalation_file=policy and policy["escalation"],
                           extra_env={"MCC_DISPATCH_DUTIES_FILE": policy["duties"]} if policy and policy["duties"]
                           else None)
    try:
        key = issue_intake_key(stack.env)
        return asyncio.run(simulate_once(stream, scn, endpoints=stack.endpoints, secret=token_secret(stack.env),
                                         intake_key=key, scale=args.scale, tail_h=args.tail,
                                         nats_url=stack.nats_url, label=label))
    finally:
        stack.stop()


def recheck(args: argparse.Namespace) -> int:
    """The loss checks again for an earlier run's outcomes (a run whose stack was still catching up at its end)."""
    outcomes = report.read_outcomes(Path(args.recheck))
    endpoints = Endpoints(hotline=args.hotline_url, grid=args.grid_url, intake=args.intake_url,
                          dispatch=args.dispatch_url)

    async def run() -> list[str]:
        http = Http(Calls())
        try:
            found = await check(outcomes, endpoints=endpoints, tokens=Tokens(token_secret()), http=http,
                                nats_url=args.nats_url)
        finally:
            await http.close()
        print(f"rechecked {len(outcomes)} items: {found.counts}")
        return found.losses

    losses = asyncio.run(run())
    for loss in losses:
        print(f"LOSS {loss}", file=sys.stderr)
    return 1 if losses else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate; exit 1 naming every lost or doubled item, 0 when the checks pass."""
    if args.recheck:
        return recheck(args)
    scn = scenario.load(args.scenario)
    stream = generator.generate(scn, seed=args.seed, day=args.day, rate=args.rate, duration_h=args.duration,
                                start_h=args.start_hour)
    print(f"stream {stream.hash}  {scn.name} seed {args.seed} day {args.day} rate {args.rate} "
          f"duration {args.duration:g} h: {stream.counts()}", flush=True)
    if args.hash_only:
        return 0
    out = Path(args.out or f"var/simulations/{scn.name}-{args.seed}-{datetime.now():%Y%m%d-%H%M%S}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="mcc-sim-") as tmp:
        if args.policy:
            for path in args.policy:
                runs.append(_run_on_own_stack(args, stream, scn, Path(tmp), load_policy(path, Path(tmp))))
        elif args.own_stack:
            runs.append(_run_on_own_stack(args, stream, scn, Path(tmp), None))
        else:
            endpoints = Endpoints(hotline=args.hotline_url, grid=args.grid_url, intake=args.intake_url,
                                  dispatch=args.dispatch_url)
            key = args.intake_key or issue_intake_key(dict(os.environ))
            runs.append(asyncio.run(simulate_once(stream, scn, endpoints=endpoints, secret=token_secret(),
                                                  intake_key=key, scale=args.scale, tail_h=args.tail,
                                                  nats_url=args.nats_url, label="本次模拟")))
    path = report.write(out, runs, title=f"城市一日模拟：{scn.title}（种子 {args.seed}，{args.day}）")
    failed = False
    for run in runs:
        t = run["figures"]["totals"]
        print(f"{run['label']}: items {t['items']} accepted {t['accepted']} orders {t['orders']} escalations "
              f"{t['escalations']} closed {t['closed']} open {t['open_at_end']} client errors {t['client_errors']}")
        for loss in run["findings"]["losses"]:
            print(f"LOSS {loss}", file=sys.stderr)
            failed = True
    print(f"report: {path}")
    return 1 if failed else 0

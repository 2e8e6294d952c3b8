#!/usr/bin/env python
"""Escalation firing lag with 100,000 pending timers: how late after its deadline an order is escalated.

How: a fresh PostgreSQL database is migrated and filled with `--pending` dispatched orders whose sign-for
deadlines lie about 15 minutes ahead (the timer poller's index holds them all, nothing is due). One dispatch
process (`uvicorn --factory services.dispatch.bootstrap:app`) starts on it at MCC_DISPATCH_TIME_SCALE=3600
with a short SLA for urgent orders (sign within 4 s: yellow warning at 3 s, red warning and escalation at 4 s).
Then `--due` urgent orders are inserted whose deadlines are spread evenly over the next `--window` seconds.
Rows are built by the domain as `handlers.handle_incident_accepted` builds them (the pending ones are copies
of 500 such rows with fresh ids), with their `dispatch` audit rows and without outbox events. The seeded
orders follow the very policy dispatch runs with, so the timer-policy fingerprint is stored with them, as a
dispatch that has been running would have stored it: the run measures a city's steady state. With
`--policy-changed` it is not stored, and dispatch reschedules every open order after it starts (the morning
after the SLA file changed) while the timers fire.

Lag = the escalation's audit row time (`order_audit.at`, stamped in the firing transaction) minus the
order's sign-for deadline (or the end of the insert, when that came later); likewise for the warnings against their due times. Target: p99 under 1 s.

    .venv/bin/python benchmarks/dispatch_timers.py
    .venv/bin/python benchmarks/dispatch_timers.py --pending 100000 --due 3000 --window 20 --poll-s 0.5
    .venv/bin/python benchmarks/dispatch_timers.py --beside-pipeline 3000    # the whole pipeline loads the machine
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dispatch_two_processes import (  # noqa: E402
    DEFAULT_PG,
    OUTBOX,
    SHORT_SIGN_S,
    TIME_SCALE,
    Servers,
    bench_database,
    build_orders,
    database_version,
    dispatch_policy,
    insert_orders,
    machine,
    now,
    peak_rss_mib,
    percentile,
    wait_until,
)
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from services.dispatch.adapters import reference  # noqa: E402
from services.dispatch.adapters.orm import OrderAudit, WorkOrder, metadata  # noqa: E402
from services.dispatch.service.handlers.timers import TIMER_POLICY_COUNTER  # noqa: E402
from shared.migrations import upgrade  # noqa: E402

TEMPLATES = 500


def clone(orders: list[dict], audits: list[dict], n: int, prefix: str) -> tuple[list[dict], list[dict]]:
    """n orders copied from templates, each with its own id, number and incident."""
    out_orders, out_audits = [], []
    for i in range(n):
        order, audit = orders[i % len(orders)], audits[i % len(audits)]
        order_id = str(uuid.uuid4())
        out_orders.append({**order, "id": order_id, "number": f"{prefix}{i:08d}", "incident_id": str(uuid.uuid4()),
                           "source_ref": f"12345-bench-{prefix}{i}"})
        out_audits.append({**audit, "order_id": order_id, "event_id": str(uuid.uuid4())})
    return out_orders, out_audits


async def store_fingerprint(url: str, fingerprint: int) -> None:
    """What a running dispatch stored when it last scheduled its open orders (see reschedule_if_policy_changed)."""
    from shared.db import create_engine

    counter = metadata.tables["counter"]
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(counter.insert().values(name=TIMER_POLICY_COUNTER, value=fingerprint))
    finally:
        await engine.dispose()


PIPELINE = str(Path(__file__).resolve().parent / "pipeline.py")


def start_pipeline(args: argparse.Namespace) -> subprocess.Popen[str]:
    """benchmarks/pipeline.py on a stack of its own (PostgreSQL, closed loop), its output kept for the end."""
    return subprocess.Popen(
        [sys.executable, PIPELINE, "--backend", "postgres", "--database-url", args.database_url, "--mode", "closed",
         "--runs", "1", "--bare-events", "0", "--appeals", str(args.beside_pipeline), "--concurrency", "32"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


async def run(args: argparse.Namespace) -> int:
    var = Path(tempfile.mkdtemp(prefix="mcc-bench-timers-"))
    started = time.monotonic()
    try:
        with bench_database(args.database_url) as url, \
                Servers(var, url, {"MCC_DISPATCH_TIMER_POLL_S": str(args.poll_s),
                                   "MCC_DISPATCH_TIMER_BATCH": str(args.batch)}) as servers:
            print(f"machine:  {machine()}")
            print(f"database: {await database_version(url)}  ({make_url(url).render_as_string()})")
            await upgrade("dispatch", url)
            policy = dispatch_policy(servers.settings())

            beside = None
            if args.beside_pipeline:  # the whole pipeline loads the machine while the timers fire
                beside = start_pipeline(args)
                print(f"beside:   benchmarks/pipeline.py posting {args.beside_pipeline} appeals (closed loop, 32 "
                      "clients) on a stack of its own")
            t = time.monotonic()
            later = now() + timedelta(hours=1000) / TIME_SCALE
            deadlines = [later - timedelta(seconds=random.uniform(0, 300)) for _ in range(TEMPLATES)]
            templates = build_orders(policy, deadlines, urgent=lambda i: False, prefix="TPL")
            pending_orders, pending_audits = clone(*templates, args.pending, "BP")
            await insert_orders(url, pending_orders, pending_audits, chunk=5000)
            print(f"seeded:   {args.pending} pending orders in {time.monotonic() - t:.1f} s, next due in "
                  f"{(min(o['next_due_at'] for o in pending_orders) - now()).total_seconds():.0f} s or later")
            del pending_orders, pending_audits
            if not args.policy_changed:
                await store_fingerprint(url, reference.timer_fingerprint(servers.settings()))
            print("policy:   " + ("changed: dispatch reschedules every open order after it starts"
                                  if args.policy_changed else "unchanged since the orders were scheduled "
                                  "(fingerprint stored, as a running dispatch leaves it)"))

            process = servers.start_dispatch(1, profile=args.profile)[0]
            print(f"settings: 1 dispatch process, TIME_SCALE={TIME_SCALE:g}, TIMER_POLL_S={args.poll_s}, "
                  f"TIMER_BATCH={args.batch}; {args.due} urgent orders (sign-for {SHORT_SIGN_S:g} s, yellow at "
                  f"75 %) with deadlines spread evenly over {args.window} s")
            t = time.monotonic()
            first = now() + timedelta(seconds=args.lead)
            step = args.window / max(1, args.due - 1)
            deadlines = [first + timedelta(seconds=i * step) for i in range(args.due)]
            due_orders, due_audits = build_orders(policy, deadlines, urgent=lambda i: True, prefix="BD")
            await insert_orders(url, due_orders, due_audits)
            inserted = now()
            early = sum(1 for o in due_orders if o["next_due_at"] <= inserted)
            print(f"inserted: {args.due} due orders in {time.monotonic() - t:.1f} s; due at insert: {early}; "
                  f"deadlines from +{(deadlines[0] - inserted).total_seconds():.1f} s to "
                  f"+{(deadlines[-1] - inserted).total_seconds():.1f} s; "
                  f"{args.pending + args.due} orders with a pending timer")
            ids = [o["id"] for o in due_orders]

            from shared.db import create_engine

            engine = create_engine(url, pool_size=1)
            try:
                async def all_escalated() -> bool:
                    async with engine.connect() as conn:
                        n = (await conn.execute(select(func.count()).select_from(WorkOrder).where(
                            WorkOrder.urgency == "urgent", WorkOrder.escalation_count > 0))).scalar_one()
                    return n >= len(ids)

                done = await wait_until(all_escalated, timeout=args.window + args.lead + args.timeout)
                async with engine.connect() as conn:
                    orders = {r.id: r for r in (await conn.execute(select(
                        WorkOrder.id, WorkOrder.first_sign_deadline, WorkOrder.dispatched_at).where(
                        WorkOrder.urgency == "urgent"))).all()}
                    trail = (await conn.execute(select(
                        OrderAudit.order_id, OrderAudit.action, OrderAudit.at, OrderAudit.details).where(
                        OrderAudit.actor == "system:timer"))).all()
                    pending = (await conn.execute(select(func.count()).select_from(WorkOrder).where(
                        WorkOrder.next_due_at.is_not(None)))).scalar_one()
                    outbox = (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
            finally:
                await engine.dispose()
            if beside is not None:
                running = beside.poll() is None
                out, _ = await asyncio.to_thread(beside.communicate, timeout=args.timeout * 20)
                print(f"beside:   the pipeline was {'still' if running else 'NOT'} running when the last "
                      "escalation fired; its output:\n  " + "\n  ".join(out.strip().splitlines()))
            rss = peak_rss_mib(process.proc.pid)
            alive = process.proc.poll() is None
            servers.stop_dispatch()  # lets cProfile write its file

        escalate, yellow, red = [], [], []
        for row in trail:
            order = orders.get(row.order_id)
            if order is None:
                continue
            # An order cannot fire before it exists: on a loaded machine the insert itself can outlast the
            # first deadlines, so lag counts from the later of the due time and the insert's commit.
            deadline = max(order.first_sign_deadline, inserted)
            if row.action == "escalate":
                escalate.append((row.at - deadline).total_seconds())
            elif row.action == "warn" and row.details.get("level") == "red":
                red.append((row.at - deadline).total_seconds())
            elif row.action == "warn":
                due = order.dispatched_at + (order.first_sign_deadline - order.dispatched_at) * 0.75
                yellow.append((row.at - max(due, inserted)).total_seconds())
        print(f"fired:    {len(escalate)} escalations, {len(red)} red and {len(yellow)} yellow warnings "
              f"({'all escalated' if done else 'NOT all escalated in time'}); {pending} orders still hold a "
              f"timer; outbox rows at the end: {outbox}")
        print("lag (audit row time - due time), seconds:")
        for name, values in (("escalation", escalate), ("red warning", red), ("yellow warning", yellow)):
            if values:
                print(f"  {name:15s} n={len(values):5d}  p50={percentile(values, 0.5):.3f}  "
                      f"p99={percentile(values, 0.99):.3f}  max={max(values):.3f}  min={min(values):.3f}")
        print(f"dispatch peak RSS: {rss:.0f} MiB" if rss else "dispatch peak RSS: unknown")
        print(f"total time {time.monotonic() - started:.0f} s")
        if args.profile:
            import pstats

            print(f"\nprofile of the dispatch process ({args.profile}), top {args.top} by own time:")
            stats = pstats.Stats(args.profile)
            stats.sort_stats("tottime").print_stats(args.top)
            print(f"top {args.top} by cumulative time:")
            stats.sort_stats("cumulative").print_stats(args.top)
        p99 = percentile(escalate, 0.99) if escalate else float("inf")
        ok = done and alive and len(escalate) == len(ids)
        print(f"{'PASS' if ok and p99 < 1 else 'MISS'}: escalation lag p99 {p99:.3f} s (target < 1 s)")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG, help="PostgreSQL server URL; a fresh database is "
                                                               "created on it and dropped after (default: %(default)s)")
    p.add_argument("--pending", type=int, default=97_000, help="orders whose timers fall due after the run "
                                                                "(default: %(default)s)")
    p.add_argument("--due", type=int, default=3_000, help="orders falling due during the run (default: %(default)s)")
    p.add_argument("--window", type=float, default=20.0, help="seconds over which they fall due "
                                                               "(default: %(default)s)")
    # 30 s: on a loaded machine inserting 3,000 orders took 25 s, so with a short lead every order was already
    # due when the insert ended and the run measured a burst of 3,000 at once instead of timers falling due.
    p.add_argument("--lead", type=float, default=30.0, help="seconds from the start of the insert to the first "
                                                             "deadline; the yellow warnings come 1 s before "
                                                             "(default: %(default)s)")
    p.add_argument("--poll-s", type=float, default=0.5, help="MCC_DISPATCH_TIMER_POLL_S (default: %(default)s)")
    p.add_argument("--batch", type=int, default=200, help="MCC_DISPATCH_TIMER_BATCH (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=60, help="extra seconds to wait for the last escalations")
    p.add_argument("--profile", metavar="PATH", help="run dispatch under cProfile, write the stats to PATH and "
                                                     "print the top functions")
    p.add_argument("--top", type=int, default=25, help="functions to print with --profile (default: %(default)s)")
    p.add_argument("--beside-pipeline", type=int, default=0, metavar="APPEALS",
                   help="run benchmarks/pipeline.py (PostgreSQL, closed loop) with this many appeals beside it")
    p.add_argument("--policy-changed", action="store_true",
                   help="do not store the timer-policy fingerprint: dispatch reschedules every open order at start")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Orders routed per second: from IncidentAccepted events on NATS to committed work orders on PostgreSQL.

How: a fresh PostgreSQL database; nats-server and redis-server; one dispatch process
(`uvicorn --factory services.dispatch.bootstrap:app`, as `mcc up` runs it) on it. The script publishes `--orders`
IncidentAccepted events (subject mcc.incident.accepted.<county>, each with its Nats-Msg-Id; towns all over the demo
city, a mix of town-owned and department-owned categories) as fast as JetStream acknowledges them, and polls
the database until every order is committed. Rate = orders / (last order seen committed - first publish).
Each order is the full use case: order number, routing by the duties list, the SLA deadlines, the order row (its
INSERT skips incidents that already have one: the dedup), the surge count, its audit row and its `dispatched`
outbox event (which the relay publishes meanwhile).
Target: 2,000 orders/s on 2 cores. `--profile` runs dispatch under cProfile and prints its top functions.
Also printed: dispatch's CPU (user + system, psutil) per order over the same span, and the load average; with
`--rate` the events are published at that steady rate instead (small batches, as the whole pipeline sends them).

    .venv/bin/python benchmarks/dispatch_routing.py
    .venv/bin/python benchmarks/dispatch_routing.py --orders 3000 --rate 100   # CPU per order at 100 incidents/s
    .venv/bin/python benchmarks/dispatch_routing.py --orders 3000 --profile /tmp/dispatch.prof
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dispatch_two_processes import (  # noqa: E402
    DEFAULT_PG,
    OUTBOX,
    Servers,
    bench_database,
    database_version,
    dispatch_policy,
    machine,
    now,
    peak_rss_mib,
    towns,
)
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from services.dispatch.adapters.orm import WorkOrder  # noqa: E402
from services.dispatch.entrypoints import consumers  # noqa: E402
from shared.events.catalog import INCIDENT_ACCEPTED  # noqa: E402
from shared.events.envelope import CloudEvent  # noqa: E402
from shared.events.v1 import AppealType, Channel, IncidentAccepted, LocatedBy, Location, Urgency  # noqa: E402
from shared.migrations import upgrade  # noqa: E402

CATEGORIES = ("020101", "020101", "040102", "0301")  # town-owned (属地) twice as often as the others


def incident(i: int, town: str, county: str) -> CloudEvent[IncidentAccepted]:
    data = IncidentAccepted(
        incident_id=str(uuid.uuid4()), channel=Channel.HOTLINE, source_ref=f"12345-bench-{i}",
        appeal_type=AppealType.COMPLAINT, category_code=CATEGORIES[i % len(CATEGORIES)],
        description="小区垃圾三天没有清运", urgency=Urgency.NORMAL,
        location=Location(town_code=town, county_code=county, address="测试地址"), located_by=LocatedBy.GRID,
        reported_at=now(), accepted_at=now())
    return CloudEvent[IncidentAccepted](source="/mcc/intake", type=INCIDENT_ACCEPTED.type, data=data,
                                        subject=data.incident_id)


async def publish_all(nats_url: str, events: list[CloudEvent[IncidentAccepted]], window: int = 256,
                      rate: float | None = None) -> float:
    """Publish with up to `window` acks outstanding (or each on schedule at `rate` per second); the wall time
    it took."""
    import nats

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    payloads = [(INCIDENT_ACCEPTED.subject_for(e.data), e.to_json(), e.id) for e in events]
    t = time.monotonic()
    if rate:
        pending = []
        for i, (subject, body, msg_id) in enumerate(payloads):
            if (delay := t + i / rate - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.ensure_future(js.publish(subject, body, headers={"Nats-Msg-Id": msg_id})))
        await asyncio.gather(*pending)
    else:
        for start in range(0, len(payloads), window):
            await asyncio.gather(*(js.publish(subject, body, headers={"Nats-Msg-Id": msg_id})
                                   for subject, body, msg_id in payloads[start:start + window]))
    elapsed = time.monotonic() - t
    await nc.close()
    return elapsed


async def run(args: argparse.Namespace) -> int:
    var = Path(tempfile.mkdtemp(prefix="mcc-bench-routing-"))
    started = time.monotonic()
    try:
        with bench_database(args.database_url) as url, Servers(var, url) as servers:
            print(f"machine:  {machine()}")
            print(f"database: {await database_version(url)}  ({make_url(url).render_as_string()})")
            await upgrade("dispatch", url)
            process = servers.start_dispatch(1, profile=args.profile)[0]
            spec = consumers.consumers(None, None)[0]  # type: ignore[arg-type]  # only to read the settings
            print(f"settings: 1 dispatch process{' under cProfile' if args.profile else ''}; incident consumer "
                  f"fetch batch {spec.batch}, {'one transaction per batch' if spec.batch_handler else 'one per event'}"
                  f", concurrency {spec.concurrency}; {args.orders} IncidentAccepted events")
            places = towns(dispatch_policy(servers.settings()))
            events = [incident(i, *random.choice(places)) for i in range(args.orders)]

            from shared.db import create_engine

            engine = create_engine(url, pool_size=1)
            committed_at: float | None = None
            try:
                async def count() -> int:
                    async with engine.connect() as conn:
                        return (await conn.execute(select(func.count()).select_from(WorkOrder))).scalar_one()

                commits0, cpu0 = await commits(process.url), cpu_seconds(process.proc.pid)
                t0 = time.monotonic()
                publisher = asyncio.create_task(publish_all(servers.nats_url, events, rate=args.rate))
                deadline = t0 + args.timeout
                seen = 0
                while time.monotonic() < deadline:
                    seen = await count()
                    if seen >= args.orders:
                        committed_at = time.monotonic()
                        cpu = cpu_seconds(process.proc.pid) - cpu0
                        committed = await commits(process.url) - commits0
                        break
                    await asyncio.sleep(0.05)
                published_s = await publisher
                async with engine.connect() as conn:
                    states = dict((await conn.execute(select(WorkOrder.state, func.count())
                                                      .group_by(WorkOrder.state))).all())
                    outbox = (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
            finally:
                await engine.dispose()
            rss = peak_rss_mib(process.proc.pid)
            servers.stop_dispatch()  # lets cProfile write its file

        print(f"published: {args.orders} events in {published_s:.2f} s ({args.orders / published_s:.0f}/s)")
        if committed_at is None:
            print(f"FAIL: only {seen} of {args.orders} orders committed within {args.timeout} s")
            return 1
        elapsed = committed_at - t0
        rate = args.orders / elapsed
        print(f"routed:   {args.orders} orders committed in {elapsed:.2f} s from the first publish: {rate:.0f} "
              f"orders/s (target 2000/s); states {states}; outbox rows left {outbox}")
        print(f"dispatch CPU: {cpu:.2f} s user+sys, {cpu / args.orders * 1000:.3f} ms per order "
              f"({cpu / elapsed * 100:.0f} % of a core); load average {os.getloadavg()[0]:.1f}; {committed} commits "
              f"({args.orders / committed:.1f} orders each, {cpu / committed * 1000:.2f} ms CPU per commit)")
        print(f"dispatch peak RSS: {rss:.0f} MiB" if rss else "dispatch peak RSS: unknown")
        print(f"total time {time.monotonic() - started:.0f} s")
        if args.profile:
            print(f"\nprofile of the dispatch process ({args.profile}), top {args.top} by own time:")
            stats = pstats.Stats(args.profile)
            stats.sort_stats("tottime").print_stats(args.top)
            print(f"top {args.top} by cumulative time:")
            stats.sort_stats("cumulative").print_stats(args.top)
        print(f"{'PASS' if rate >= 2000 else 'MISS'}: {rate:.0f} orders/s routed (target 2000/s)")
        return 0
    finally:
        if args.keep:
            print(f"kept {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def commits(url: str) -> int:
    """Database transactions the process has committed so far (its mcc_db_commits_total): batches, relay rounds."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        text = (await client.get(f"{url}/metrics")).text
    return int(sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("mcc_db_commits_total")))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG, help="PostgreSQL server URL; a fresh database is "
                                                               "created on it and dropped after (default: %(default)s)")
    p.add_argument("--orders", type=int, default=10_000, help="IncidentAccepted events (default: %(default)s)")
    p.add_argument("--rate", type=float, help="publish this many events per second instead of as fast as "
                                              "JetStream acknowledges them")
    p.add_argument("--timeout", type=float, default=120, help="give up after this many seconds "
                                                               "(default: %(default)s)")
    p.add_argument("--profile", metavar="PATH", help="run dispatch under cProfile, write the stats to PATH and "
                                                     "print the top functions")
    p.add_argument("--top", type=int, default=25, help="functions to print with --profile (default: %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

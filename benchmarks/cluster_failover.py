#!/usr/bin/env python
"""Losing a node under load: the cluster of `mcc up --cluster` (three NATS nodes, streams at R3, two processes
per service, PostgreSQL), a steady stream of appeals through the hotline API, and three kills -9 one after
another: the NATS node leading the first stream (MCC_INTAKE), then one dispatch process, then one intake
process. Each victim stays down for `--down` seconds and then comes back, as a supervisor would bring it.

Appeals go out open-loop at `--rate` per second, alternating between the two hotline processes, each with an
Idempotency-Key; a post that fails (connection refused, 5xx, timeout) is tried again with the same key, as a
console would, so an appeal counts as accepted once the hotline answered 201. After the load stops, the run
waits (by progress) until every accepted appeal has its work order, then prints:

- accepted / orders / lost (accepted, no order) / duplicates (an appeal with two orders) / doubled
  transitions (two audit rows of one order at one version) / dead letters (messages in MCC_DLQ);
- for each kill: the longest appeal -> order time and the longest gap between accepted answers among the
  appeals posted while the victim was down (the pause the kill caused), and the load held;
- `--compare`: closed-loop throughput of the cluster and of the single-node stack (`mcc up`'s shape on the
  same PostgreSQL server) in the same run. Both share this machine's cores: figures, not targets.

    .venv/bin/python benchmarks/cluster_failover.py                       # 10 appeals/s, 20 s down per kill
    .venv/bin/python benchmarks/cluster_failover.py --rate 20 --down 30 --compare
    .venv/bin/python benchmarks/cluster_failover.py --quick               # small and short (the smoke test)

Exit status 1 when anything was lost, doubled or dead-lettered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

DEFAULT_PG = os.environ.get("MCC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CENTRE = (120.87, 32.01)
SERVICES = ("grid", "intake", "dispatch", "hotline")


@dataclass
class Load:
    """Appeals posted so far: number -> (moment the first try left, moment the 201 came back)."""

    accepted: dict[str, tuple[float, float]] = field(default_factory=dict)
    sent: int = 0
    retries: int = 0
    gave_up: int = 0


def headers(env: dict[str, str]) -> dict[str, str]:
    from shared.auth import mint_token
    from shared.settings import ServiceSettings

    secret = env.get("MCC_TOKEN_SECRET") or ServiceSettings().token_secret
    token = mint_token(secret, subject="failover-bench", role="operator", unit_code="320600")
    return {"Authorization": f"Bearer {token}"}


def body() -> dict:
    return {"caller_phone": f"139{random.randrange(10**8):08d}", "appeal_type": "complaint",
            "category_code": "020101", "description": "小区门口垃圾三天没有清运",
            "coordinates": {"lon": round(CENTRE[0] + random.uniform(-0.02, 0.02), 6),
                            "lat": round(CENTRE[1] + random.uniform(-0.02, 0.02), 6)}}


async def post_until_accepted(client, urls: list[str], auth: dict, load: Load, give_up_s: float = 120) -> None:  # noqa: ANN001
    """One appeal, tried again with the same Idempotency-Key (on the other replica too) until a 201."""
    load.sent += 1
    key, payload, first = uuid.uuid4().hex, body(), time.time()
    attempt = 0
    while time.time() - first < give_up_s:
        url = urls[(load.sent + attempt) % len(urls)]
        with contextlib.suppress(Exception):
            response = await client.post(f"{url}/api/v1/appeals", json=payload,
                                         headers={**auth, "Idempotency-Key": key})
            if response.status_code == 201:
                load.accepted[response.json()["number"]] = (first, time.time())
                return
        attempt += 1
        load.retries += 1
        await asyncio.sleep(min(0.2 * attempt, 2))
    load.gave_up += 1


async def open_loop(urls: list[str], auth: dict, load: Load, rate: float, stop: asyncio.Event) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=200)) as client:
        tasks, t0, i = [], time.monotonic(), 0
        while not stop.is_set():
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_until_accepted(client, urls, auth, load)))
            i += 1
        await asyncio.gather(*tasks)


from pipeline import _aware  # noqa: E402 - benchmarks/ is on the path above; one reading of stored times


async def orders_of(database_url: str) -> list[tuple[str, datetime]]:
    from sqlalchemy import text

    from shared.db import create_engine

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("select source_ref, created_at from work_order "
                                            "where channel = 'hotline'"))).all()
            return [(ref, _aware(at)) for ref, at in rows]
    finally:
        await engine.dispose()


async def doubled_transitions(database_url: str) -> int:
    from sqlalchemy import text

    from shared.db import create_engine

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(
                "select count(*) from (select order_id, version from order_audit group by order_id, version "
                "having count(*) > 1) d"))).scalar_one())
    finally:
        await engine.dispose()


async def dead_letters(nats_url: str) -> int:
    import nats

    nc = await nats.connect(servers=nats_url.split(","), connect_timeout=2)
    try:
        return int((await nc.jetstream(timeout=10).stream_info("MCC_DLQ")).state.messages)
    finally:
        await nc.close()


async def settle(database_url: str, numbers: set[str], quiet_s: float = 60) -> dict[str, list[datetime]]:
    """Orders per accepted appeal, waiting while progress is made, until all have one."""
    found: dict[str, list[datetime]] = {}
    last, have = time.monotonic(), -1
    while time.monotonic() - last < quiet_s:
        found = {}
        for ref, at in await orders_of(database_url):
            found.setdefault(ref, []).append(at)
        done = len(numbers & set(found))
        if done == len(numbers):
            break
        if done > have:
            have, last = done, time.monotonic()
        await asyncio.sleep(0.5)
    return found


def window_figures(load: Load, orders: dict[str, list[datetime]], start: float, end: float) -> str:
    posted = sorted((first, answered, n) for n, (first, answered) in load.accepted.items() if start <= first < end)
    if not posted:
        return "no appeals posted"
    lag = [min(orders[n]).timestamp() - first for first, _, n in posted if n in orders]
    answers = sorted(answered for _, answered, _ in posted)
    gap = max((b - a for a, b in zip([start, *answers], answers, strict=False)), default=0.0)
    return (f"{len(posted)} appeals posted, longest appeal->order {max(lag, default=float('nan')):.1f} s, "
            f"longest gap between accepted answers {gap:.1f} s, held {len(posted) / (end - start):.1f} appeals/s")


async def scenario(cluster, args: argparse.Namespace) -> int:  # noqa: ANN001
    from services.cluster_cli import Cluster

    assert isinstance(cluster, Cluster)
    load, stop = Load(), asyncio.Event()
    urls = [cluster.url("hotline", i) for i in (1, 2)]
    loader = asyncio.create_task(open_loop(urls, headers(cluster.env), load, args.rate, stop))
    windows: list[tuple[str, float, float]] = []
    await asyncio.sleep(args.warm)
    leader = await asyncio.to_thread(cluster.stream_leader, "MCC_INTAKE")
    replicas = await asyncio.to_thread(cluster.stream_replicas, "MCC_INTAKE")
    print(f"  MCC_INTAKE: {replicas} replicas, leader {leader}", flush=True)
    for victim in (leader, "dispatch-1", "intake-1"):
        began = time.time()
        await asyncio.to_thread(cluster.kill, victim)
        print(f"  kill -9 {victim} at {datetime.now(UTC):%H:%M:%S}", flush=True)
        await asyncio.sleep(args.down)
        if victim.startswith("nats-"):
            await asyncio.to_thread(cluster.restart_nats, victim)
        else:
            await asyncio.to_thread(cluster.start_replica, victim)
        windows.append((victim, began, time.time()))
        await asyncio.sleep(args.between)
    stop.set()
    await loader
    dispatch_db = cluster.env["MCC_DISPATCH_DATABASE_URL"]
    orders = await settle(dispatch_db, set(load.accepted))
    lost = sorted(set(load.accepted) - set(orders))
    duplicates = sorted(n for n in load.accepted if len(orders.get(n, [])) > 1)
    doubled = await doubled_transitions(dispatch_db)
    letters = await dead_letters(cluster.nats_url)
    print(f"\nappeals: {load.sent} sent, {len(load.accepted)} accepted ({load.retries} retries, {load.gave_up} "
          f"given up); orders: {sum(1 for n in load.accepted if n in orders)}; lost {len(lost)}; duplicates "
          f"{len(duplicates)}; doubled transitions {doubled}; dead letters {letters}")
    for victim, began, ended in windows:
        print(f"  {victim:<10} down {ended - began:.0f} s: {window_figures(load, orders, began, ended)}")
    if lost:
        print(f"  lost: {lost[:10]}")
    return 1 if lost or duplicates or doubled or letters or load.gave_up else 0


async def closed_loop(urls: list[str], auth: dict, seconds: float, concurrency: int, database_url: str) -> float:
    """Appeals posted back to back by `concurrency` clients for `seconds`; orders per second until the last."""
    import httpx

    load, deadline = Load(), time.time() + seconds
    started = time.time()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker() -> None:
            while time.time() < deadline:
                await post_until_accepted(client, urls, auth, load)

        await asyncio.gather(*[worker() for _ in range(concurrency)])
    orders = await settle(database_url, set(load.accepted), quiet_s=30)
    last = max((min(v).timestamp() for n, v in orders.items() if n in load.accepted), default=started)
    return len(load.accepted) / max(last - started, 1e-9)


def main() -> int:
    from dispatch_two_processes import bench_database

    from services.cluster_cli import start_cluster

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres", default=DEFAULT_PG, help="PostgreSQL server (default: %(default)s)")
    p.add_argument("--rate", type=float, default=10, help="appeals per second offered (default: %(default)s)")
    p.add_argument("--down", type=float, default=20, help="seconds each victim stays down (default: %(default)s)")
    p.add_argument("--warm", type=float, default=10, help="seconds of load before the first kill")
    p.add_argument("--between", type=float, default=10, help="seconds of load after each victim is back")
    p.add_argument("--compare", action="store_true", help="also: closed-loop throughput, cluster vs one node")
    p.add_argument("--seconds", type=float, default=20, help="--compare: seconds per closed loop")
    p.add_argument("--concurrency", type=int, default=32, help="--compare: clients per closed loop")
    p.add_argument("--quick", action="store_true", help="short phases, low rate (smoke test)")
    p.add_argument("--keep", action="store_true", help="keep logs and data")
    args = p.parse_args()
    if args.quick:
        args.rate, args.down, args.warm, args.between, args.seconds = 4, 5, 3, 3, 5
    print(f"{os.cpu_count()} cores; load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
          flush=True)
    var = Path(tempfile.mkdtemp(prefix="mcc-bench-cluster-"))
    status = 0
    try:
        with contextlib.ExitStack() as dbs:
            urls = {name: dbs.enter_context(bench_database(args.postgres)) for name in SERVICES}
            started = time.monotonic()
            cluster = start_cluster(var / "cluster", database_urls=urls)
            try:
                print(f"cluster ready in {time.monotonic() - started:.0f} s: 3 NATS nodes (R3), 2 processes per "
                      f"service; {args.rate:g} appeals/s offered", flush=True)
                status = asyncio.run(scenario(cluster, args))
                if args.compare:
                    auth = headers(cluster.env)
                    hotlines = [cluster.url("hotline", i) for i in (1, 2)]
                    rate = asyncio.run(closed_loop(hotlines, auth, args.seconds, args.concurrency,
                                                   urls["dispatch"]))
                    print(f"\ncluster   closed loop, {args.concurrency} clients: {rate:6.1f} incidents/s; load avg "
                          f"{os.getloadavg()[0]:.2f}", flush=True)
            finally:
                cluster.stop()
        if args.compare:
            status |= compare_single(args, var)
    finally:
        if args.keep:
            print(f"kept {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)
    return status


def compare_single(args: argparse.Namespace, var: Path) -> int:
    from dispatch_two_processes import bench_database

    from tests.support.stack import Stack

    with contextlib.ExitStack() as dbs:
        urls = {name: dbs.enter_context(bench_database(args.postgres)) for name in SERVICES}
        stack = Stack.start(var / "single", database_urls=urls)
        try:
            stack.wait_ready(120)
            rate = asyncio.run(closed_loop([stack.url("hotline")], headers(stack.env), args.seconds,
                                           args.concurrency, urls["dispatch"]))
            print(f"one node  closed loop, {args.concurrency} clients: {rate:6.1f} incidents/s; load avg "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Hotline appeals per second, from POST /api/v1/appeals to IncidentReported stored in JetStream.

How: nats-server (JetStream, `sync_interval: always`) and redis-server start on free ports with temporary data.
Each run gets a fresh database (a new SQLite file, or a new schema in `--postgres-url`), migrated as the
hotline does at start. The hotline app runs **in this process**, driven by an in-process ASGI client
(httpx.ASGITransport) in a closed loop: `--concurrency` operators each send their next appeal as soon as the
last was answered (201 = committed). Each appeal is a 投诉 with a fresh caller and a point scattered over
Nantong, so the duplicate check reads real neighbours. The clock stops when the last appeal's
IncidentReported is in the stream (the outbox relay published it), so the figure is create → published
event. Repeated `--runs` times per database; prints the range (min–max), the 1-minute load average before
and after, and CPU seconds per appeal of this process (the service, its relay and the client together;
PostgreSQL's and nats-server's own CPU are not included).

    .venv/bin/python benchmarks/hotline_create.py
    .venv/bin/python benchmarks/hotline_create.py --appeals 3000 --concurrency 64 --runs 3 --backends postgres
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import platform
import pstats
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import nats  # noqa: E402
from sqlalchemy import event  # noqa: E402

from services.hotline import bootstrap  # noqa: E402
from services.hotline.adapters.orm import metadata  # noqa: E402
from services.hotline.config import HotlineSettings  # noqa: E402
from shared.auth import mint_token  # noqa: E402
from shared.devservers import nats_server, redis_server  # noqa: E402
from shared.events.catalog import INCIDENT_REPORTED  # noqa: E402
from shared.roles import Role  # noqa: E402
from shared.runtime import Runtime  # noqa: E402


def appeal(rng: random.Random, n: int) -> dict:
    return {"caller_phone": f"139{rng.randrange(10**8):08d}", "appeal_type": "complaint", "category_code": "0301",
            "description": f"楼下饭店油烟扰民 第{n}次", "address": "崇川区和平桥街道",
            "coordinates": {"lon": 120.80 + rng.random() * 0.2, "lat": 31.95 + rng.random() * 0.15}}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def stream_count(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(INCIDENT_REPORTED.stream)
        return info.state.messages
    finally:
        await nc.close()


async def one_run(args: argparse.Namespace, backend: str, tmp: Path, nats_url: str, redis_url: str) -> dict:
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'hotline-{uuid.uuid4().hex[:8]}.db'}"
    else:
        url, schema = args.postgres_url, f"bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(url)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
    settings = HotlineSettings(database_url=url, nats_url=nats_url, redis_url=redis_url, log_json=False,
                               log_level="WARNING", outbox_poll_s=0.2, demo=True)
    runtime = Runtime.build("hotline", settings, metadata, schema=schema)
    app = bootstrap.build(settings, runtime=runtime)
    tally = {"commits": 0, "published": 0}
    event.listen(runtime.engine.sync_engine, "commit", lambda _conn: tally.__setitem__("commits", tally["commits"] + 1))
    counted = runtime.relay.on_published

    def on_published(subject: str) -> None:
        tally["published"] += 1
        if counted:
            counted(subject)

    runtime.relay.on_published = on_published
    headers = {"Authorization": "Bearer " + mint_token(settings.token_secret, subject="op-bench", role=Role.OPERATOR,
                                                       unit_code="320600")}
    rng = random.Random(7)
    try:
        async with app.router.lifespan_context(app):
            await runtime.bus.wait_connected(30)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
                before = await stream_count(nats_url) + 1
                warm = await client.post("/api/v1/appeals", json=appeal(rng, -1), headers=headers)
                assert warm.status_code == 201, warm.text
                while await stream_count(nats_url) < before:  # noqa: ASYNC110 - the warm-up event is not counted
                    await asyncio.sleep(0.05)
                queue = iter(range(args.appeals))
                failed = 0
                writer = app.state.hotline.appeal_writer
                groups_before = writer.groups

                async def operator() -> None:
                    nonlocal failed
                    for n in queue:
                        answer = await client.post("/api/v1/appeals", json=appeal(rng, n), headers=headers)
                        failed += answer.status_code != 201

                load_before = os.getloadavg()[0]
                profile = cProfile.Profile() if args.profile else None
                if profile:
                    profile.enable()
                cpu0, t0, tally0 = cpu_s(), time.perf_counter(), dict(tally)
                await asyncio.gather(*(operator() for _ in range(args.concurrency)))
                answered = time.perf_counter() - t0
                target = before + args.appeals - failed
                while await stream_count(nats_url) < target:  # noqa: ASYNC110 - polling another process
                    await asyncio.sleep(0.01)
                elapsed, cpu = time.perf_counter() - t0, cpu_s() - cpu0
                if profile:
                    profile.disable()
                    stats = pstats.Stats(profile).sort_stats(args.profile)
                    stats.print_stats(30)

                groups = writer.groups - groups_before
                # Messages and transactions of the hotline per appeal (the relay may still publish the
                # last AppealDisposed events: wait for as many as appeals).
                while tally["published"] - tally0["published"] < 2 * (args.appeals - failed):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                commits = tally["commits"] - tally0["commits"]
                published = tally["published"] - tally0["published"]
        return {"rate": (args.appeals - failed) / elapsed, "answered_rate": (args.appeals - failed) / answered,
                "cpu_ms": 1000 * cpu / max(1, args.appeals - failed), "failed": failed,
                "group": (args.appeals - failed) / max(1, groups), "load": (load_before, os.getloadavg()[0]),
                "tx": commits / max(1, args.appeals - failed), "msgs": published / max(1, args.appeals - failed)}
    finally:
        await runtime.engine.dispose()
        if schema:
            conn = await asyncpg.connect(args.postgres_url)
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()


def span(values: list[float], fmt: str = ",.0f") -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if len(values) == 1 else f"{lo:{fmt}}–{hi:{fmt}}"


async def run(args: argparse.Namespace, tmp: Path) -> None:
    nats_proc = nats_server(tmp / "nats").start()
    redis_proc = redis_server(tmp / "redis").start()
    nats_url, redis_url = f"nats://127.0.0.1:{nats_proc.port}", f"redis://127.0.0.1:{redis_proc.port}/0"
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}; "
          f"{args.appeals} appeals per run, closed loop at concurrency {args.concurrency}, {args.runs} runs; "
          "in-process ASGI client; JetStream sync_interval: always")
    try:
        for backend in args.backends.split(","):
            results = [await one_run(args, backend, tmp, nats_url, redis_url) for _ in range(args.runs)]
            loads = [x for r in results for x in r["load"]]
            print(f"{backend:>8}: {span([r['rate'] for r in results])} appeals/s create → published event "
                  f"(answered 201: {span([r['answered_rate'] for r in results])}/s); "
                  f"CPU {span([r['cpu_ms'] for r in results], '.2f')} ms per appeal in this process; "
                  f"{span([r['group'] for r in results], '.1f')} appeals per create transaction; hotline "
                  f"commits {span([r['tx'] for r in results], '.3f')} and JetStream messages "
                  f"{span([r['msgs'] for r in results], '.2f')} per appeal (relay and knowledge poll included); "
                  f"non-201: {sum(r['failed'] for r in results)}; load average {span(loads, '.1f')}")
    finally:
        nats_proc.stop()
        redis_proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appeals", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--postgres-url", default=os.environ.get("MCC_TEST_POSTGRES_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--profile", default=None, help="print cProfile's top functions by this key (tottime, ...)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mcc-hotline-bench-"))
    try:
        asyncio.run(run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

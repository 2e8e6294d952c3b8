"""Grid events accepted per second through the HTTP API (POST /api/v1/events and /api/v1/events/batch).

How: nats-server and redis-server are started on free ports with temporary data; a fresh database (SQLite
file in a temporary directory by default, or `--database-url postgresql://...` for an empty database/schema)
is migrated and the demo city loaded, as the grid service does at first start. The grid app runs **in this
process** and is driven by an in-process ASGI client (httpx.ASGITransport): no sockets, so the figure is the
service's own cost (routing, API-key check, rate limit in Redis, category check, lookup, scope, idempotency
record, event row, outbox row, commit) plus the client's, all on one core. The outbox relay publishes to NATS
at the same time. Every request carries a fresh Idempotency-Key and a point inside a random grid of the key's
county; a request counts when it answers 201 (or, for a batch, per item answered 201).

    .venv/bin/python benchmarks/grid_events.py
    .venv/bin/python benchmarks/grid_events.py --events 3000 --concurrency 32 --batch-size 100
    .venv/bin/python benchmarks/grid_events.py --database-url postgresql://postgres@127.0.0.1:5432/bench

With `--uvicorn-workers N` the service runs instead as `uvicorn --factory services.grid.bootstrap:app --workers N`
(separate processes, as `mcc serve` would with workers) and this process is the client over TCP, through
benchmarks/rawhttp.py (one keep-alive connection per concurrent request; ~0.3 ms of client CPU per event, where
httpx took ~9 ms on this machine and so measured itself). A request whose connection broke is sent again
with the same Idempotency-Key (counted as a retry). Single events are timed `--runs` times on one service
start; each run prints events/s, the load average at its start, and CPU milliseconds per accepted event of
this client, of the uvicorn processes (master and workers: user + system) and of redis-server. PostgreSQL's
and nats-server's CPU are not counted.

    .venv/bin/python benchmarks/grid_events.py --uvicorn-workers 2 --concurrency 64 --runs 3 \
        --database-url postgresql://postgres@127.0.0.1:5432/grid_bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psutil  # noqa: E402
import rawhttp  # noqa: E402

from services.grid import bootstrap  # noqa: E402
from services.grid.adapters.orm import metadata  # noqa: E402
from services.grid.adapters.uow import GridUnitOfWork  # noqa: E402
from services.grid.config import GridSettings  # noqa: E402
from services.grid.service import handlers  # noqa: E402
from shared.auth import mint_token  # noqa: E402
from shared.democity import grids  # noqa: E402
from shared.devservers import free_port, nats_server, redis_server  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.roles import Role  # noqa: E402
from shared.runtime import Runtime  # noqa: E402

COUNTY = "320612"


def body(rng: random.Random, pool: list) -> dict:
    g = rng.choice(pool)
    (x0, y0), (x1, _), (_, y1) = g.polygon[0], g.polygon[1], g.polygon[2]
    return {"category_code": "0301", "description": "河道漂浮垃圾", "reporter_id": f"gw-{rng.randrange(500)}",
            "lon": x0 + (x1 - x0) * 0.1, "lat": y0 + (y1 - y0) * 0.1}


Post = Callable[[str, dict, dict], Awaitable[tuple[int, Any]]]  # (path, body, headers) -> (status, JSON)


@dataclass
class Phase:
    """One timed run of single events: what was accepted, in how long, and the CPU each side spent."""

    accepted: int
    seconds: float
    client_cpu_s: float
    service_cpu_s: float | None  # the uvicorn processes (None in-process: the client is the service)
    redis_cpu_s: float
    retries: int
    load: float  # one-minute load average when the run started


def process_cpu(pids: list[int]) -> float:
    """User + system CPU so far of these processes (those still alive)."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def tree(pid: int) -> list[int]:
    """A process and its children (uvicorn's master and workers)."""
    root = psutil.Process(pid)
    return [root.pid, *(c.pid for c in root.children(recursive=True))]


async def drive(post: Post, settings: GridSettings, args: argparse.Namespace, *, service_pid: int | None,
                redis_pid: int, counters: dict[str, int]) -> tuple[list[Phase], tuple[int, float]]:
    """Issue a key, then send single events (`--runs` times) and batches; the single runs and (accepted, s)."""
    admin = {"Authorization": "Bearer " + mint_token(settings.token_secret, subject="bench", role=Role.ADMIN,
                                                      unit_code="320600")}
    _, issued = await post("/api/v1/admin/api-keys", {"name": "bench", "scope_unit": COUNTY}, admin)
    key = {"X-Api-Key": issued["key"]}
    pool = [g for g in grids() if g.county_code == COUNTY and g.kind == "comprehensive"]
    rng = random.Random(1)
    await post("/api/v1/events", body(rng, pool), {**key, "Idempotency-Key": "warm-up"})
    sem = asyncio.Semaphore(args.concurrency)
    service = tree(service_pid) if service_pid else []
    phases = []
    for _ in range(args.runs):
        accepted = 0

        async def one() -> None:
            nonlocal accepted
            async with sem:
                status, _ = await post("/api/v1/events", body(rng, pool),
                                       {**key, "Idempotency-Key": uuid.uuid4().hex})
                accepted += status == 201

        load, retries0 = os.getloadavg()[0], counters["retries"]
        cpu0, service0, redis0 = time.process_time(), process_cpu(service), process_cpu([redis_pid])
        t0 = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(args.events)])
        seconds = time.perf_counter() - t0
        phases.append(Phase(accepted, seconds, time.process_time() - cpu0,
                            process_cpu(service) - service0 if service else None,
                            process_cpu([redis_pid]) - redis0, counters["retries"] - retries0, load))
    accepted_items = 0

    async def batch(n: int) -> None:
        nonlocal accepted_items
        async with sem:
            items = [{**body(rng, pool), "id": f"b{n}-{i}"} for i in range(args.batch_size)]
            status, answer = await post("/api/v1/events/batch", {"items": items},
                                        {**key, "Idempotency-Key": uuid.uuid4().hex})
            accepted_items += answer["created"] if status == 200 else 0

    t0 = time.perf_counter()
    await asyncio.gather(*[batch(n) for n in range(max(1, args.events // args.batch_size))])
    return phases, (accepted_items, time.perf_counter() - t0)


def raw_post(pool: rawhttp.Pool, counters: dict[str, int]) -> Post:
    """POST through the raw client; a broken connection is retried with the same headers (Idempotency-Key)."""

    async def post(path: str, json_body: dict, headers: dict) -> tuple[int, Any]:
        for attempt in range(5):
            try:
                status, answer = await pool.request("POST", path, json_body=json_body, headers=headers)
                return status, json.loads(answer) if answer else None
            except ConnectionError:
                if attempt == 4:
                    raise
                counters["retries"] += 1
        raise AssertionError("unreachable")

    return post


def asgi_post(client: httpx.AsyncClient) -> Post:
    async def post(path: str, json_body: dict, headers: dict) -> tuple[int, Any]:
        answer = await client.post(path, json=json_body, headers=headers)
        return answer.status_code, answer.json()

    return post


def _start_uvicorn(port: int, workers: int, env: dict[str, str], log_path: Path) -> tuple:
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "services.grid.bootstrap:app",
                             "--port", str(port), "--workers", str(workers), "--no-access-log"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


async def run_uvicorn(args: argparse.Namespace, settings: GridSettings, tmp: Path, redis_pid: int) -> tuple:
    port = free_port()
    env = {**os.environ, "MCC_GRID_DATABASE_URL": settings.database_url, "MCC_NATS_URL": settings.nats_url,
           "MCC_REDIS_URL": settings.redis_url, "MCC_GRID_PHOTO_DIR": settings.photo_dir,
           "MCC_GRID_RATE_LIMIT_PER_MINUTE": str(settings.rate_limit_per_minute),
           "MCC_GRID_BATCH_MAX_ITEMS": str(settings.batch_max_items), "MCC_LOG_LEVEL": "WARNING",
           "MCC_OUTBOX_POLL_S": "0.2", "MCC_TOKEN_SECRET": settings.token_secret}
    # Migrate and load the city once before the workers start, so they do not race for an empty database.
    started = time.perf_counter()
    await upgrade("grid", settings.database_url)
    loader = Runtime.build("grid", settings, metadata, unit_of_work=GridUnitOfWork)
    await handlers.prepare_registry(uow=loader.uow(), demo_city=True)
    await loader.engine.dispose()
    proc, log = _start_uvicorn(port, args.uvicorn_workers, env, tmp / "uvicorn.log")
    spawned = time.perf_counter()
    pool = rawhttp.Pool("127.0.0.1", port, size=args.concurrency)
    try:
        while True:
            try:
                if (await pool.request("GET", "/readyz"))[0] == 200:
                    break
            except OSError:  # ConnectionError (refused, reset) while uvicorn starts
                pass
            if proc.poll() is not None or time.perf_counter() - spawned > 120:
                tail = (tmp / "uvicorn.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"uvicorn did not become ready; its log ends:\n{tail}")
            await asyncio.sleep(0.2)
        ready = time.perf_counter() - started
        counters = {"retries": 0}
        return ready, *(await drive(raw_post(pool, counters), settings, args, service_pid=proc.pid,
                                    redis_pid=redis_pid, counters=counters))
    finally:
        await pool.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()


def span(values: list[float], fmt: str) -> str:
    low, high = min(values), max(values)
    return f"{low:{fmt}}" if f"{low:{fmt}}" == f"{high:{fmt}}" else f"{low:{fmt}}–{high:{fmt}}"


def report(phases: list[Phase], args: argparse.Namespace) -> None:
    ok = [p for p in phases if p.accepted]
    print(f"single events, {len(phases)} runs of {args.events} (concurrency {args.concurrency}), "
          f"load average at each start {span([p.load for p in phases], '.1f')}:")
    for n, p in enumerate(phases, 1):
        service = f", service {1000 * p.service_cpu_s / max(1, p.accepted):.2f}" if p.service_cpu_s is not None else ""
        print(f"  run {n}: {p.accepted}/{args.events} accepted in {p.seconds:.1f} s = {p.accepted / p.seconds:,.0f}/s;"
              f" CPU ms per event: client {1000 * p.client_cpu_s / max(1, p.accepted):.2f}{service}, "
              f"redis {1000 * p.redis_cpu_s / max(1, p.accepted):.2f}; retries {p.retries}; load {p.load:.1f}")
    if ok:
        line = (f"  range: {span([p.accepted / p.seconds for p in ok], ',.0f')} events/s; CPU ms per event: client "
                f"{span([1000 * p.client_cpu_s / p.accepted for p in ok], '.2f')}")
        if ok[0].service_cpu_s is not None:
            line += f", service {span([1000 * p.service_cpu_s / p.accepted for p in ok], '.2f')}"
        print(line + f", redis {span([1000 * p.redis_cpu_s / p.accepted for p in ok], '.2f')}")


async def run(args: argparse.Namespace, tmp: Path) -> None:
    nats = nats_server(tmp / "nats").start()
    redis = redis_server(tmp / "redis").start()
    try:
        settings = GridSettings(database_url=args.database_url or f"sqlite:///{tmp / 'grid.db'}",
                                nats_url=f"nats://127.0.0.1:{nats.port}", redis_url=f"redis://127.0.0.1:{redis.port}/0",
                                photo_dir=str(tmp / "photos"), rate_limit_per_minute=1_000_000,
                                batch_max_items=max(200, args.batch_size), log_json=False, outbox_poll_s=0.2,
                                token_secret=secrets.token_hex(32))
        if args.uvicorn_workers:
            ready, phases, (accepted_items, batch_s) = await run_uvicorn(args, settings, tmp, redis.proc.pid)
            how = (f"uvicorn --workers {args.uvicorn_workers}, client over TCP in this process "
                   f"(benchmarks/rawhttp.py, {args.concurrency} keep-alive connections)")
        else:
            app = bootstrap.build(settings, runtime=Runtime.build("grid", settings, metadata))
            started = time.perf_counter()
            async with app.router.lifespan_context(app):
                ready = time.perf_counter() - started
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as client:
                    phases, (accepted_items, batch_s) = await drive(
                        asgi_post(client), settings, args, service_pid=None, redis_pid=redis.proc.pid,
                        counters={"retries": 0})
            how = "in-process ASGI client (httpx.ASGITransport), one process: client CPU is the service's too"
        batches = max(1, args.events // args.batch_size)
        backend = settings.database_url.split(":", 1)[0]
        print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}; "
              f"database: {backend}; {how}")
        print(f"service start (migrations + demo city 9,303 grids + index): {ready:.1f} s")
        report(phases, args)
        print(f"batches of {args.batch_size}: {accepted_items}/{batches * args.batch_size} items accepted in "
              f"{batch_s:.1f} s = {accepted_items / batch_s:,.0f} events/s")
    finally:
        nats.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000, help="single events per run (and batch items)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of single events, on one service start")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a temporary SQLite)")
    parser.add_argument("--uvicorn-workers", type=int, default=0, help="run the service under uvicorn instead")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mcc-grid-bench-"))
    try:
        asyncio.run(run(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

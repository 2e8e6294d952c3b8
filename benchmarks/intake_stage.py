"""Incidents per second through the intake stage alone: IncidentReported on NATS → IncidentAccepted published.

How: nats-server and redis-server are started on free ports with temporary data; grid and intake run as
`uvicorn --factory services.<name>.bootstrap:app` processes, as `mcc up` runs them (grid on a SQLite file with
the demo city; intake on a fresh SQLite file, or on a fresh PostgreSQL database made from `--database-url`
and dropped afterwards). Each run publishes `--incidents` hotline reports with coordinates inside random
demo-city grids (so every one is located), as fast as JetStream acks them, and counts until every one has
been published again as `mcc.incident.accepted.<county>` by intake's outbox. `--rate R` publishes R a second
instead (a trickle, as the whole pipeline feeds intake: fetches return one or a few messages, so per-message costs
show); `--orders` also publishes one `mcc.order.dispatched.<county>` per incident (as dispatch does) and waits until
intake's order consumer has taken every one, for its Open311 status projection. Printed per run: incidents/s (first
publish → last accepted), intake's CPU (user+sys from /proc) per incident, grid's CPU per incident, and the
load average; then the range over the runs.

    .venv/bin/python benchmarks/intake_stage.py
    .venv/bin/python benchmarks/intake_stage.py --incidents 2000 --runs 3
    .venv/bin/python benchmarks/intake_stage.py --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/intake_stage.py --rate 67 --orders --incidents 1000   # the pipeline's trickle
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats  # noqa: E402
from sqlalchemy import make_url  # noqa: E402

from services.cli import ServiceProcess, start_service, wait_ready  # noqa: E402
from shared.democity import grids  # noqa: E402
from shared.devservers import free_port, nats_server, redis_server  # noqa: E402
from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_REPORTED, ORDER_EVENTS  # noqa: E402
from shared.events.envelope import utcnow  # noqa: E402
from shared.events.v1 import (  # noqa: E402
    AppealType,
    Channel,
    Coordinates,
    IncidentReported,
    Location,
    OrderChanged,
    OrderState,
)
from shared.outbox import build_event  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


DISPATCHED = ORDER_EVENTS["dispatched"]


def order_dispatched(report: IncidentReported, county: str) -> tuple[str, bytes]:
    """The `mcc.order.dispatched` dispatch would publish for this incident: (subject, CloudEvent JSON)."""
    change = OrderChanged(order_id=f"o-{report.incident_id}", order_number=f"N{report.source_ref}",
                          incident_id=report.incident_id, action="dispatch", from_state=OrderState.ACCEPTED,
                          to_state=OrderState.DISPATCHED, version=2, unit_code="u1", tier="town", county_code=county,
                          category_code=report.category_code, appeal_type=AppealType.COMPLAINT,
                          channel=report.channel, source_ref=report.source_ref, actor="system:bench",
                          occurred_at=utcnow())
    return DISPATCHED.subject_for(change), build_event(DISPATCHED, change, source="/bench").to_json()


def reports(n: int, rng: random.Random, pool: list, *, orders: bool = False) -> list[tuple[str, bytes]]:
    """(subject, payload) to publish: each report, and after it its order's dispatch when `orders`."""
    out = []
    for _ in range(n):
        g = rng.choice(pool)
        xs, ys = [p[0] for p in g.polygon], [p[1] for p in g.polygon]
        lon = min(xs) + (max(xs) - min(xs)) * rng.uniform(0.2, 0.8)
        lat = min(ys) + (max(ys) - min(ys)) * rng.uniform(0.2, 0.8)
        ref = uuid.uuid4().hex[:16]
        report = IncidentReported(incident_id=f"bench-{ref}", channel=Channel.HOTLINE, source_ref=ref,
                                  category_code="010201", description="路灯不亮已经一周",
                                  location=Location(coordinates=Coordinates(lon=lon, lat=lat)),
                                  reported_at=utcnow())
        out.append((INCIDENT_REPORTED.subject, build_event(INCIDENT_REPORTED, report, source="/bench").to_json()))
        if orders:
            out.append(order_dispatched(report, g.county_code))
    return out


async def accepted_count(js) -> int:
    info = await js.stream_info(INCIDENT_ACCEPTED.stream, subjects_filter=INCIDENT_ACCEPTED.wildcard)
    return sum((info.state.subjects or {}).values())  # one subject per county


async def orders_left(js) -> int:
    """Order events intake's order consumer has not yet acknowledged (0 before it exists)."""
    try:
        info = await js.consumer_info("MCC_ORDERS", "intake-orders")
    except Exception:
        return 0
    return info.num_pending + info.num_ack_pending


async def publish(js, payloads: list[tuple[str, bytes]], rate: float | None) -> None:
    def send(subject: str, payload: bytes):
        return js.publish(subject, payload, headers={"Nats-Msg-Id": str(uuid.uuid4())})

    if rate is None:
        for chunk in range(0, len(payloads), 200):  # 200 publishes in flight, each acked by JetStream
            await asyncio.gather(*(send(s, p) for s, p in payloads[chunk:chunk + 200]))
        return
    # On schedule, whatever intake does: each report (with its order event) at its time, acks awaited aside.
    per_report = 2 if payloads and payloads[-1][0] != INCIDENT_REPORTED.subject else 1
    started, pending = time.monotonic(), []
    for n in range(0, len(payloads), per_report):
        delay = started + (n // per_report) / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pending += [asyncio.ensure_future(send(s, p)) for s, p in payloads[n:n + per_report]]
    await asyncio.gather(*pending)


async def one_run(js, payloads: list[tuple[str, bytes]], intake: ServiceProcess, grid: ServiceProcess,
                  timeout: float, rate: float | None = None) -> dict[str, float]:
    start_count = await accepted_count(js)
    n = sum(1 for subject, _ in payloads if subject == INCIDENT_REPORTED.subject)
    cpu_intake, cpu_grid = cpu_seconds(intake.proc.pid), cpu_seconds(grid.proc.pid)
    started = time.monotonic()
    await publish(js, payloads, rate)
    published = time.monotonic() - started
    target = start_count + n
    while (done := await accepted_count(js)) < target or await orders_left(js):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"only {done - start_count}/{n} accepted after {timeout} s")
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    return {"rate": n / elapsed, "seconds": elapsed, "publish_s": published,
            "intake_cpu_ms": (cpu_seconds(intake.proc.pid) - cpu_intake) * 1000 / n,
            "grid_cpu_ms": (cpu_seconds(grid.proc.pid) - cpu_grid) * 1000 / n,
            "load1": os.getloadavg()[0]}


@contextlib.asynccontextmanager
async def fresh_database(url: str | None, var: Path):
    """A SQLite file in `var`, or a new PostgreSQL database on the server of `url`, dropped afterwards."""
    if not url:
        yield f"sqlite:///{var / 'intake.db'}"
        return
    import asyncpg

    base = make_url(url)
    name = f"bench_intake_{uuid.uuid4().hex[:8]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mcc-intake-bench-") as tmp:
        var = Path(tmp)
        nats_proc = nats_server(var / "nats").start()
        redis_proc = redis_server(var / "redis").start()
        services: list[ServiceProcess] = []
        try:
            async with fresh_database(args.database_url, var) as intake_db:
                ports = {"grid": free_port(), "intake": free_port()}
                # A demo stack, as `mcc up` runs one: the default token secret is allowed (refused otherwise).
                env = dict(os.environ, MCC_DEMO=os.environ.get("MCC_DEMO", "true"), MCC_NATS_URL=f"nats://127.0.0.1:{nats_proc.port}",
                           MCC_REDIS_URL=f"redis://127.0.0.1:{redis_proc.port}", MCC_LOG_JSON="false",
                           MCC_INTAKE_GRID_URL=f"http://127.0.0.1:{ports['grid']}",
                           MCC_GRID_DATABASE_URL=f"sqlite:///{var / 'grid.db'}", MCC_GRID_PORT=str(ports["grid"]),
                           MCC_INTAKE_DATABASE_URL=intake_db, MCC_INTAKE_PORT=str(ports["intake"]))
                services.append(start_service("grid", ports["grid"], env, var))
                wait_ready(services, timeout=180)
                services.append(start_service("intake", ports["intake"], env, var))
                wait_ready(services, timeout=180)
                grid_proc, intake_proc = services
                nc = await nats.connect(f"nats://127.0.0.1:{nats_proc.port}")
                js = nc.jetstream(timeout=10)
                pool = list(grids())
                rng = random.Random(args.seed)
                warm = await one_run(js, reports(50, rng, pool, orders=args.orders), intake_proc, grid_proc,
                                     args.timeout)
                print(f"warm-up: 50 incidents in {warm['seconds']:.1f} s")
                results = []
                for i in range(args.runs):
                    r = await one_run(js, reports(args.incidents, rng, pool, orders=args.orders), intake_proc,
                                      grid_proc, args.timeout, args.rate)
                    results.append(r)
                    print(f"run {i + 1}: {args.incidents} incidents in {r['seconds']:.1f} s = {r['rate']:.0f}/s "
                          f"(published in {r['publish_s']:.1f} s); CPU per incident: intake {r['intake_cpu_ms']:.2f} "
                          f"ms, grid {r['grid_cpu_ms']:.2f} ms; load1 {r['load1']:.2f}")
                await nc.drain()

                def span(key: str, fmt: str) -> str:
                    values = [r[key] for r in results]
                    return f"{format(min(values), fmt)}–{format(max(values), fmt)}"

                db = "PostgreSQL" if args.database_url else "SQLite"
                offered = f"at {args.rate:g}/s" if args.rate else "as fast as acked"
                with_orders = " with an order event each" if args.orders else ""
                print(f"\nintake stage, {db}, {args.runs} runs of {args.incidents}{with_orders} {offered}: {span('rate', '.0f')} incidents/s; "
                      f"CPU per incident intake {span('intake_cpu_ms', '.2f')} ms, grid {span('grid_cpu_ms', '.2f')} ms; "
                      f"load1 {span('load1', '.2f')} on {os.cpu_count()} cores ({platform.processor() or platform.machine()})")
        finally:
            for s in services:
                s.proc.terminate()
            for s in services:
                with contextlib.suppress(Exception):
                    s.proc.wait(20)
            redis_proc.stop()
            nats_proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1000, help="incidents per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600, help="seconds a run may take")
    parser.add_argument("--rate", type=float, help="incidents published per second (default: as fast as acked)")
    parser.add_argument("--orders", action="store_true", help="one order.dispatched event per incident too")
    parser.add_argument("--database-url", help="a PostgreSQL server URL: intake gets a fresh database on it")
    asyncio.run(main(parser.parse_args()))

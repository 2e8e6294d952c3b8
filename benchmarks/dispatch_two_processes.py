#!/usr/bin/env python
"""Two dispatch processes, one database, 10,000 orders whose sign-for deadlines fall within the same few
seconds: every order must escalate exactly once, counted in the audit table and in JetStream.

How: a fresh PostgreSQL database (or SQLite file) is migrated; nats-server and redis-server are started; two
dispatch processes (`uvicorn --factory services.dispatch.bootstrap:app`, as `mcc up` runs them) start on it at
MCC_DISPATCH_TIME_SCALE=3600 with a short SLA. The orders are then bulk-inserted while both run: each row is
built by the domain exactly as `handlers.handle_incident_accepted` builds it (routing by the duties list,
`decide(DISPATCH)`, `repository.row_values`, `next_due`), with its `dispatch` audit row; their `dispatched`
events are not put in the outbox (nothing here consumes them). Deadlines fall in a window a few seconds after
the insert. The script waits until no order is due and the outbox is empty, then counts `escalate` audit rows
and `cn.mcc.order.escalated.v1` events per order, and each process's own escalation counter (/metrics).

    .venv/bin/python benchmarks/dispatch_two_processes.py
    .venv/bin/python benchmarks/dispatch_two_processes.py --database-url sqlite:///var/bench-two.db

This module also holds the plumbing the other dispatch benchmarks import (database, servers, seeding).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from services.cli import ServiceProcess, service_env, start_service, wait_ready  # noqa: E402
from services.dispatch.adapters import reference, repository  # noqa: E402
from services.dispatch.adapters.orm import OrderAudit, WorkOrder, metadata  # noqa: E402
from services.dispatch.config import DispatchSettings  # noqa: E402
from services.dispatch.domain.lifecycle import Action, Actor, Order, OrderState, decide  # noqa: E402
from services.dispatch.domain.org import OrgTree  # noqa: E402
from services.dispatch.domain.policy import DispatchPolicy  # noqa: E402
from services.dispatch.domain.timers import next_due  # noqa: E402
from shared.db import create_engine, is_sqlite  # noqa: E402
from shared.devservers import ServerProcess, free_port, nats_server, redis_server  # noqa: E402
from shared.events.catalog import ORDER_EVENTS  # noqa: E402
from shared.migrations import upgrade  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
TIME_SCALE = 3600.0  # an SLA hour lasts one real second
TERRITORIAL = "020101"  # 生活垃圾未及时清运: a town owns it (属地)
ESCALATED = ORDER_EVENTS["escalated"]
OUTBOX = metadata.tables["outbox"]

# Urgent orders must be signed for within 4 h (4 s here: yellow warning at 3 s, red + escalation at 4 s); the
# rest within 1000 h (about 17 minutes: beyond any run).
SLA = """
version: 1
settings: {return_window: 2wd, extension_max: 10wd, yellow_share: 0.75}
rules:
  - {sign: 1000h, handle: 5000h}
  - {urgency: urgent, sign: 4h}
"""
SHORT_SIGN_S = 4 * 3600 / TIME_SCALE
# The shipped chain's first step, with a long deadline for the county so that each order escalates once in a
# run (the shipped 2 h would, at this scale, send every order on to the city two seconds later).
CHAIN = """
version: 1
steps:
  - {id: sign-overdue-escalate, on: sign_overdue, from: [town, county], after: 0h, action: escalate,
     to: next_tier, new_deadline: {sign: 1000h}}
"""


# --- machine and figures ----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    load = ", load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return f"{platform.node()}: {os.cpu_count()} cores ({cpu}){mem}{load}; Python {platform.python_version()}"


async def database_version(url: str) -> str:
    if is_sqlite(url):
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version} (WAL, one writer at a time)"
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return str((await conn.exec_driver_sql("select version()")).scalar_one()).split(" on ")[0]
    finally:
        await engine.dispose()


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set size (VmHWM), MiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# --- a database of its own --------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(url: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh database for one run, dropped afterwards: a new PostgreSQL database (a subprocess cannot be
    pointed at a schema), or a new SQLite file, deleted afterwards."""
    if is_sqlite(url):
        path = make_url(url).database
        if not path or path == ":memory:":
            raise SystemExit("give SQLite a file: sqlite:///path/to/new.db (several processes share it)")
        if Path(path).exists():
            raise SystemExit(f"{path} exists: give a new file name (the benchmark creates it and deletes it after)")
        try:
            yield url
        finally:
            if not keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(path + suffix).unlink(missing_ok=True)
        return
    name = f"mcc_bench_{uuid.uuid4().hex[:10]}"
    _in_thread(_pg_admin(url, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            _in_thread(_pg_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _in_thread(coro: Any) -> None:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# --- servers and dispatch processes -----------------------------------------------------------------------


@dataclass
class Servers:
    """nats-server, redis-server and dispatch processes for one run, in a temporary directory."""

    var: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    nats: ServerProcess | None = None
    redis: ServerProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    dispatch: list[ServiceProcess] = field(default_factory=list)

    def __enter__(self) -> Servers:
        (self.var / "logs").mkdir(parents=True, exist_ok=True)
        (self.var / "sla.yaml").write_text(SLA)
        (self.var / "escalation.yaml").write_text(CHAIN)
        self.nats = nats_server(self.var / "nats").start()
        self.redis = redis_server(self.var / "redis").start()
        ports = {"grid": free_port(), "intake": free_port(), "hotline": free_port(), "dispatch": free_port()}
        self.env = service_env(self.var, nats_url=self.nats_url, redis_url=f"redis://127.0.0.1:{self.redis.port}/0",
                               ports=ports, json_logs=True)
        self.env.update({
            "MCC_DISPATCH_DATABASE_URL": self.database_url, "MCC_DISPATCH_TIME_SCALE": str(TIME_SCALE),
            "MCC_DISPATCH_SLA_FILE": str(self.var / "sla.yaml"),
            "MCC_DISPATCH_ESCALATION_FILE": str(self.var / "escalation.yaml"),
            "MCC_OUTBOX_POLL_S": "0.2", "MCC_LOG_LEVEL": "WARNING",
        })
        self.env.update(self.extra_env)
        return self

    @property
    def nats_url(self) -> str:
        assert self.nats is not None
        return f"nats://127.0.0.1:{self.nats.port}"

    def settings(self) -> DispatchSettings:
        """The settings the dispatch processes run with (to build orders with the same policy)."""
        return DispatchSettings(database_url=self.database_url, time_scale=TIME_SCALE,
                                sla_file=str(self.var / "sla.yaml"), escalation_file=str(self.var / "escalation.yaml"))

    def start_dispatch(self, count: int = 1, *, profile: str | None = None) -> list[ServiceProcess]:
        """Start `count` processes; on an empty database the first starts alone, because two processes
        loading the topology into an empty database at once collide (see docs/dispatch-benchmarks.md)."""
        if count > 1 and not self.dispatch:
            return self.start_dispatch(1, profile=profile) + self.start_dispatch(count - 1, profile=profile)
        started = []
        for i in range(len(self.dispatch), len(self.dispatch) + count):
            port = free_port()
            env = {**self.env, "MCC_DISPATCH_PORT": str(port)}
            log_dir = self.var / "logs" / f"dispatch-{i}"
            log_dir.mkdir(parents=True, exist_ok=True)
            if profile:
                started.append(_start_profiled(f"{profile}.{i}" if i else profile, port, env, log_dir))
            else:
                started.append(start_service("dispatch", port, env, log_dir))
        self.dispatch.extend(started)
        ready = wait_ready(started, timeout=90)
        if not all(ready.values()) or any(p.proc.poll() is not None for p in started):
            raise RuntimeError(f"dispatch not ready; logs under {self.var / 'logs'}")
        return started

    def stop_dispatch(self) -> None:
        for p in self.dispatch:
            if p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in self.dispatch:
            try:
                p.proc.wait(30)
            except subprocess.TimeoutExpired:
                p.proc.kill()

    def __exit__(self, *exc: object) -> None:
        self.stop_dispatch()
        for server in (self.nats, self.redis):
            if server is not None:
                server.stop()


# uvicorn re-raises SIGTERM after its graceful shutdown, which would kill `python -m cProfile` before it writes
# its file: so the profiled process installs a SIGTERM handler of its own that writes the stats and exits.
PROFILED_SERVER = """
import asyncio, cProfile, signal, sys, uvicorn
path, port = sys.argv[1], int(sys.argv[2])
profile = cProfile.Profile()
def finish(*_):
    profile.disable()
    profile.dump_stats(path)
    sys.exit(0)
signal.signal(signal.SIGTERM, finish)
server = uvicorn.Server(uvicorn.Config("services.dispatch.bootstrap:app", factory=True, host="127.0.0.1",
                                       port=port, timeout_graceful_shutdown=15, access_log=False))
profile.enable()
asyncio.run(server.serve())
finish()
"""


def _start_profiled(path: str, port: int, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    """Dispatch under cProfile; the stats are written to `path` when it is stopped with SIGTERM."""
    log = open(log_dir / "dispatch.log", "ab")  # noqa: SIM115 - lives as long as the process
    argv = [sys.executable, "-c", PROFILED_SERVER, path, str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return ServiceProcess("dispatch", port, proc)


def escalations_counter(process: ServiceProcess) -> float:
    """mcc_orders_escalated_total as one process counted it (its /metrics)."""
    try:
        text = httpx.get(f"{process.url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return float("nan")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("mcc_orders_escalated_total{"))


# --- orders built the way the router builds them -----------------------------------------------------------


def dispatch_policy(settings: DispatchSettings) -> DispatchPolicy:
    org = OrgTree.from_units(reference.initial_units(settings))
    return reference.build_policy(settings, org)


def towns(policy: DispatchPolicy) -> list[tuple[str, str]]:
    """(town, county) of every town in the tree."""
    return [(u.code, u.parent_code) for u in policy.org if str(u.kind).endswith("town")]


def build_orders(policy: DispatchPolicy, deadlines: list[datetime], *, urgent: Callable[[int], bool],
                 prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Work-order rows and their `dispatch` audit rows, as `handle_incident_accepted` would write them, for
    orders whose sign-for deadline is `deadlines[i]` (each order is dispatched that much earlier)."""
    places = towns(policy)
    long_sign = timedelta(hours=1000) / TIME_SCALE
    short_sign = timedelta(seconds=SHORT_SIGN_S)
    orders, audits = [], []
    actor = Actor.system("router")
    for i, deadline in enumerate(deadlines):
        town, county = places[i % len(places)]
        is_urgent = urgent(i)
        now = deadline - (short_sign if is_urgent else long_sign)
        routing = policy.route(TERRITORIAL, None, town, county)
        order_id = str(uuid.uuid4())
        row = WorkOrder(
            id=order_id, number=f"{prefix}{i:08d}", incident_id=str(uuid.uuid4()),
            state=OrderState.ACCEPTED.value, version=0, unit_code=routing.unit_code or policy.org.city_code,
            tier=routing.tier or "city", county_code=county, town_code=town, village_code=None, grid_code=None,
            category_code=TERRITORIAL, appeal_type="complaint", urgency="urgent" if is_urgent else "normal",
            channel="hotline", source_ref=f"12345-bench-{i}", title=None, description="小区垃圾三天没有清运",
            address="测试地址", lon=None, lat=None, located_by="grid", confidential=False, caller=None,
            reported_at=now, created_at=now, updated_at=now, lifecycle={},
        )
        limits = policy.limits(place=policy.place(town, county), appeal_type="complaint",
                               category_code=TERRITORIAL, urgency=row.urgency)
        decision = decide(Order(id=order_id, state=OrderState.ACCEPTED), Action.QUEUE if routing.queue else
                          Action.DISPATCH, actor, now, org=policy.org, calendar=policy.calendar,
                          settings=policy.sla.settings, to_unit=routing.unit_code, limits=limits,
                          reason=routing.reason)
        values = repository.row_values(row, decision, next_due_at=next_due(decision.order, policy.timer))
        columns = {c.name: getattr(row, c.name) for c in WorkOrder.__table__.columns}  # type: ignore[attr-defined]
        columns.update(values)
        orders.append(columns)
        audits.append({"order_id": order_id, "event_id": str(uuid.uuid4()), "action": decision.action.value,
                       "from_state": decision.from_state.value, "to_state": decision.order.state.value,
                       "version": values["version"], "actor": actor.subject, "unit_code": values["unit_code"],
                       "reason": decision.reason, "details": _jsonable(dict(decision.details)), "at": now})
    return orders, audits


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


async def insert_orders(url: str, orders: list[dict[str, Any]], audits: list[dict[str, Any]],
                        chunk: int = 2000) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        for start in range(0, len(orders), chunk):
            async with engine.begin() as conn:
                await conn.execute(insert(WorkOrder.__table__), orders[start:start + chunk])  # type: ignore[attr-defined]
                await conn.execute(insert(OrderAudit.__table__), audits[start:start + chunk])  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


def now() -> datetime:
    return datetime.now(UTC)


# --- counting ---------------------------------------------------------------------------------------------


async def stream_counts(nats_url: str, subject: str, stream: str = "MCC_ORDERS") -> Counter:
    """Events on `subject` per order id, read with an ephemeral pull consumer."""
    import nats
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await nats.connect(nats_url)
    counts: Counter = Counter()
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(subject, stream=stream, config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30))
        while True:
            try:
                msgs = await sub.fetch(1000, timeout=2)
            except (TimeoutError, NatsTimeout):
                break
            for m in msgs:
                counts[json.loads(m.data)["data"]["order_id"]] += 1
        await sub.unsubscribe()
    finally:
        await nc.close()
    return counts


async def wait_until(check: Callable[[], Any], *, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(interval)


# --- this benchmark ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    var = Path(tempfile.mkdtemp(prefix="mcc-bench-two-"))
    started = time.monotonic()
    try:
        with bench_database(args.database_url) as url, \
                Servers(var, url, {"MCC_DISPATCH_TIMER_POLL_S": str(args.poll_s),
                                   "MCC_DISPATCH_TIMER_BATCH": str(args.batch)}) as servers:
            print(f"machine:  {machine()}")
            print(f"database: {await database_version(url)}  ({make_url(url).render_as_string()})")
            await upgrade("dispatch", url)  # before two processes start: they must not race to create tables
            processes = servers.start_dispatch(args.processes)
            print(f"settings: {args.processes} dispatch processes, TIME_SCALE={TIME_SCALE:g}, "
                  f"TIMER_POLL_S={args.poll_s}, TIMER_BATCH={args.batch}; sign-for limit {SHORT_SIGN_S:g} s "
                  f"(yellow warning at 75 %), deadlines spread over {args.window} s")
            policy = dispatch_policy(servers.settings())
            # Calibrate: how long building and inserting takes, so that no deadline passes before the insert.
            t = time.monotonic()
            build_orders(policy, [now()] * 200, urgent=lambda i: True, prefix="CAL")
            per_order = (time.monotonic() - t) / 200
            lead = 3.0 + SHORT_SIGN_S + args.orders * per_order * 2.5
            base = now() + timedelta(seconds=lead)
            deadlines = [base + timedelta(seconds=random.uniform(0, args.window)) for _ in range(args.orders)]
            orders, audits = build_orders(policy, deadlines, urgent=lambda i: True, prefix="BT")
            await insert_orders(url, orders, audits)
            inserted = now()
            early = sum(1 for o in orders if o["next_due_at"] <= inserted)
            print(f"seeded:   {args.orders} orders in {time.monotonic() - t:.1f} s (bulk insert of rows built as "
                  f"handle_incident_accepted builds them); due at insert: {early}; deadlines from "
                  f"+{(min(deadlines) - inserted).total_seconds():.1f} s to "
                  f"+{(max(deadlines) - inserted).total_seconds():.1f} s")
            ids = {o["id"] for o in orders}

            engine = create_engine(url, pool_size=1)
            try:
                async def settled() -> bool:
                    async with engine.connect() as conn:
                        due = (await conn.execute(select(func.count()).select_from(WorkOrder).where(
                            WorkOrder.next_due_at <= now()))).scalar_one()
                        escalated = (await conn.execute(select(func.count()).select_from(WorkOrder).where(
                            WorkOrder.escalation_count > 0))).scalar_one()
                        pending = (await conn.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
                    return now() > max(deadlines) and due == 0 and pending == 0 and escalated >= len(ids)

                t = time.monotonic()
                done = await wait_until(settled, timeout=args.timeout)
                drained = time.monotonic() - t
                async with engine.connect() as conn:
                    audit = Counter(r.order_id for r in (await conn.execute(
                        select(OrderAudit.order_id).where(OrderAudit.action == "escalate"))).all())
                    transitions = (await conn.execute(select(func.count()).select_from(OrderAudit).where(
                        OrderAudit.actor == "system:timer"))).scalar_one()
            finally:
                await engine.dispose()
            events = await stream_counts(servers.nats_url, ESCALATED.wildcard)
            dead = [p.proc.pid for p in processes if p.proc.poll() is not None]
            per_process = [escalations_counter(p) for p in processes]
            rss = [peak_rss_mib(p.proc.pid) for p in processes]

        print(f"settled:  {'yes' if done else 'NO (timed out)'} {drained:.1f} s after the insert "
              f"(no order due, outbox empty); {transitions} timer transitions (warnings + escalations)")
        print(f"per process escalations (/metrics): {', '.join(f'{n:.0f}' for n in per_process)}; "
              f"peak RSS: {', '.join(f'{r:.0f} MiB' for r in rss if r)}")
        problems = _check(ids, audit, "audit rows") + _check(ids, events, "JetStream events")
        if dead:
            problems.append(f"dispatch processes {dead} exited during the run")
        print(f"audit:    escalate rows {sum(audit.values())} for {len(audit)} orders; "
              f"max per order {max(audit.values(), default=0)}")
        print(f"stream:   {ESCALATED.type} events {sum(events.values())} for {len(events)} orders; "
              f"max per order {max(events.values(), default=0)}")
        print(f"total time {time.monotonic() - started:.0f} s")
        if problems or not done:
            print("FAIL: " + "; ".join(problems or ["did not settle in time"]))
            return 1
        print(f"PASS: every order escalated exactly once ({len(ids)}/{len(ids)})")
        return 0
    finally:
        shutil.rmtree(var, ignore_errors=True) if not args.keep else print(f"kept {var}")


def _check(ids: set[str], counts: Counter, what: str) -> list[str]:
    problems = []
    missing = ids - set(counts)
    twice = [k for k, v in counts.items() if k in ids and v > 1]
    strangers = set(counts) - ids
    if missing:
        problems.append(f"{len(missing)} orders without escalation in {what}")
    if twice:
        problems.append(f"{len(twice)} orders escalated more than once in {what}")
    if strangers:
        problems.append(f"{len(strangers)} unknown orders in {what}")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=DEFAULT_PG,
                   help="PostgreSQL server URL (a fresh database is created on it and dropped after) or "
                        "sqlite:///path (default: %(default)s)")
    p.add_argument("--orders", type=int, default=10_000, help="orders (default: %(default)s)")
    p.add_argument("--processes", type=int, default=2, help="dispatch processes (default: %(default)s)")
    p.add_argument("--window", type=float, default=3.0, help="seconds over which the deadlines fall "
                                                              "(default: %(default)s)")
    p.add_argument("--poll-s", type=float, default=0.5, help="MCC_DISPATCH_TIMER_POLL_S (default: %(default)s)")
    p.add_argument("--batch", type=int, default=200, help="MCC_DISPATCH_TIMER_BATCH (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=120, help="give up after this many seconds of waiting "
                                                               "(default: %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) and the database")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

"""Escalation timers survive crashes: dispatch runs as a real process (the way `mcc up` starts it) at accelerated
time, is killed with SIGKILL while sign-for deadlines are pending, Redis comes back empty, the deadlines pass
while dispatch is down, and nats-server restarts while dispatch is running. Every overdue order escalates
exactly once (audit rows and events on MCC_ORDERS), none is lost.

Load cannot make it fail: each group's sign-for limit is chosen when it is sent, from a ladder of limits (one
per appeal type × urgency), as a multiple of how long this machine just took to dispatch (measured), and every
wait is bounded by a multiple of how long dispatch took to start. A quiet machine gets short limits (a fast test);
a loaded one longer ones."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from services.cli import ServiceProcess, service_env, start_service, wait_ready
from services.dispatch.adapters.orm import OrderAudit, WorkOrder, metadata
from shared.db import create_engine
from shared.devservers import ServerProcess, free_port, nats_server, redis_server
from shared.events.catalog import INCIDENT_ACCEPTED, ORDER_EVENTS
from shared.events.envelope import utcnow
from shared.events.v1 import AppealType, Urgency
from tests.support.apps import stream_messages
from tests.support.dispatch import TZ_TOWN_A, TZ_TOWN_B, accepted_incident
from tests.support.polling import eventually

POSTGRES_URL = os.environ.get("MCC_TEST_POSTGRES_URL")
ESCALATED = ORDER_EVENTS["escalated"]
OUTBOX = metadata.tables["outbox"]

# At MCC_DISPATCH_TIME_SCALE=3600 an SLA hour lasts one real second. Each (appeal type, urgency) pair gets its own
# sign-for limit, from 1 s to 64 s: a group of orders is sent with the pair whose limit fits the measured pace.
# The last pair (praise, urgent) is for probes that measure the pace: due long after the test.
LADDER = dict(zip([(t, u) for u in (Urgency.NORMAL, Urgency.URGENT) for t in AppealType],
                  (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 100_000), strict=True))
PROBE = (AppealType.PRAISE, Urgency.URGENT)
SLA = ("version: 1\nsettings: {return_window: 2wd, extension_max: 10wd, yellow_share: 0.5}\nrules:\n"
       "  - {sign: 100000h, handle: 500h}\n") + "".join(
    f"  - {{appeal_type: {t.value}, urgency: {u.value}, sign: {hours}h, handle: 500h}}\n"
    for (t, u), hours in LADDER.items())
# The shipped chain's first step, but the county gets a deadline far beyond the test: so "exactly once" is
# exact for the whole run, not only until the county's own deadline passes.
CHAIN = """
version: 1
steps:
  - {id: sign-overdue-escalate, on: sign_overdue, from: [town, county], after: 0h, action: escalate,
     to: next_tier, new_deadline: {sign: 1000h}}
"""
GROUP_A, GROUP_B = 12, 12
SAFETY = 3  # a limit is at least this many times what dispatching the probe took, plus 1.5 s


def rung(took_s: float) -> tuple[AppealType, Urgency, float]:
    """The shortest limit on the ladder that leaves the group SAFETY times what dispatching the probe took."""
    need = SAFETY * took_s + 1.5
    rungs = [(k, h) for k, h in LADDER.items() if k != PROBE]
    (appeal_type, urgency), hours = next(((k, h) for k, h in rungs if h >= need), rungs[-1])
    return appeal_type, urgency, float(hours)


@pytest.fixture(params=["sqlite"] + (["postgres"] if POSTGRES_URL else []))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own: a subprocess cannot be pointed at a PostgreSQL schema, so a whole database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dispatch.db'}"
        return
    assert POSTGRES_URL
    name = f"mcc_e2e_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class World:
    var: Path
    nats: ServerProcess
    redis: ServerProcess
    env: dict[str, str]
    port: int
    dispatch: ServiceProcess | None = None

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats.port}"

    def start_dispatch(self, *, timeout: float = 180) -> None:
        self.dispatch = start_service("dispatch", self.port, self.env, self.var / "logs")
        if not all(wait_ready([self.dispatch], timeout=timeout).values()):
            raise AssertionError(f"dispatch not ready; log:\n{self.log()[-3000:]}")

    def kill_dispatch(self) -> None:
        assert self.dispatch is not None
        self.dispatch.proc.send_signal(signal.SIGKILL)
        self.dispatch.proc.wait(10)

    def restart_redis_empty(self) -> None:
        self.redis.stop()
        shutil.rmtree(self.redis.data_dir)
        self.redis.start()

    def log(self) -> str:
        path = self.var / "logs" / "dispatch.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    (tmp_path / "logs").mkdir()
    (tmp_path / "sla.yaml").write_text(SLA)
    (tmp_path / "escalation.yaml").write_text(CHAIN)
    nats_proc = nats_server(tmp_path / "nats").start()
    redis_proc = redis_server(tmp_path / "redis").start()
    port = free_port()
    env = service_env(tmp_path, nats_url=f"nats://127.0.0.1:{nats_proc.port}",
                      redis_url=f"redis://127.0.0.1:{redis_proc.port}/0",
                      ports={"grid": free_port(), "intake": free_port(), "hotline": free_port(), "dispatch": port},
                      json_logs=True)
    env.update({"MCC_DISPATCH_DATABASE_URL": database_url, "MCC_DISPATCH_TIME_SCALE": "3600",
                "MCC_DISPATCH_SLA_FILE": str(tmp_path / "sla.yaml"),
                "MCC_DISPATCH_ESCALATION_FILE": str(tmp_path / "escalation.yaml"),
                "MCC_DISPATCH_TIMER_POLL_S": "0.2", "MCC_OUTBOX_POLL_S": "0.2"})
    w = World(tmp_path, nats_proc, redis_proc, env, port)
    try:
        yield w
    finally:
        if w.dispatch is not None and w.dispatch.proc.poll() is None:
            w.dispatch.proc.send_signal(signal.SIGTERM)
            try:
                w.dispatch.proc.wait(20)
            except Exception:
                w.dispatch.proc.kill()
        nats_proc.stop()
        redis_proc.stop()


@asynccontextmanager
async def database(url: str) -> AsyncIterator[object]:
    engine = create_engine(url, pool_size=2)
    try:
        yield engine
    finally:
        await engine.dispose()


async def rows(engine, query) -> list:  # noqa: ANN001
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def test_every_overdue_order_escalates_exactly_once_after_kill_9_an_empty_redis_and_a_nats_restart(
        world: World, database_url: str):
    started = time.monotonic()
    world.start_dispatch()
    patience = max(20.0, 5 * (time.monotonic() - started))  # every wait below, scaled by how slow a start was
    async with database(database_url) as engine:
        # Group A: due while dispatch is down. Its limit: SAFETY times a routing round trip just measured.
        took = await send_and_wait(world, engine, [accepted_incident(appeal_type=PROBE[0],
                                                                     urgency=PROBE[1])], patience)
        appeal_type, urgency, _ = rung(took)
        incidents = [accepted_incident(town=TZ_TOWN_A if i % 2 else TZ_TOWN_B, appeal_type=appeal_type,
                                       urgency=urgency) for i in range(GROUP_A)]
        sent = time.monotonic()
        dispatched = await send_and_wait(world, engine, incidents, patience, rows_out=True)
        group_a = {r.id: r.sign_deadline for r in dispatched}
        assert all(r.tier == "town" for r in dispatched)
        assert utcnow() < min(group_a.values()), \
            f"group A fell due before dispatch was killed (dispatching took {time.monotonic() - sent:.1f} s)"

        # Crash with every deadline pending; Redis loses everything meanwhile.
        world.kill_dispatch()
        world.restart_redis_empty()
        assert await escalations(engine) == Counter()  # nothing fired before the crash

        latest_a = max(group_a.values())
        await eventually(lambda: utcnow() > latest_a, timeout=patience + 100, interval=0.1)
        assert await escalations(engine) == Counter()  # deadlines passed while dispatch was down

        world.start_dispatch(timeout=patience)
        await eventually(lambda: _exactly(escalations(engine), set(group_a)), timeout=patience, interval=0.1,
                         message="group A escalated after the restart")
        await eventually(lambda: _exactly(stream_escalations(world.nats_url), set(group_a)), timeout=patience,
                         interval=0.2, message="group A's escalated events on MCC_ORDERS")

        # Group B, sent now, falls due after nats-server goes away with dispatch running; its events wait.
        took = await send_and_wait(world, engine, [accepted_incident(appeal_type=PROBE[0], urgency=PROBE[1])],
                                   patience)
        appeal_type, urgency, _ = rung(took)
        urgent = [accepted_incident(appeal_type=appeal_type, urgency=urgency) for _ in range(GROUP_B)]
        group_b = {r.id: r.sign_deadline for r in await send_and_wait(world, engine, urgent, patience,
                                                                      rows_out=True)}
        world.nats.stop()
        assert utcnow() < min(group_b.values()), "group B fell due before nats-server was stopped"
        everyone = set(group_a) | set(group_b)
        await eventually(lambda: _exactly(escalations(engine), everyone), timeout=patience + 100,
                         interval=0.1, message="group B escalated while nats-server was down")
        waiting = await rows(engine, select(func.count()).select_from(OUTBOX).where(OUTBOX.c.type == ESCALATED.type))
        assert waiting[0][0] == len(group_b)  # held in the outbox, not lost
        world.nats.start()  # same store directory

        per_order = await eventually(lambda: _exactly(stream_escalations(world.nats_url), everyone),
                                     timeout=patience, interval=0.2,
                                     message="every escalated event on MCC_ORDERS after the restart")
        assert set(per_order) == everyone and set(per_order.values()) == {1}
        assert await escalations(engine) == Counter({order_id: 1 for order_id in everyone})
        final = await rows(engine, select(WorkOrder.id, WorkOrder.tier, WorkOrder.escalation_count)
                           .where(WorkOrder.id.in_(everyone)))
        assert {(r.tier, r.escalation_count) for r in final} == {("county", 1)}
        # Each escalation was written by the timer after its deadline, never before.
        trail = await rows(engine, select(OrderAudit.order_id, OrderAudit.at, OrderAudit.actor)
                           .where(OrderAudit.action == "escalate"))
        deadlines = {**group_a, **group_b}
        assert all(r.actor == "system:timer" and r.at >= deadlines[r.order_id] for r in trail)


async def send_and_wait(world: World, engine, events: list, patience: float, *,  # noqa: ANN001
                        rows_out: bool = False):  # noqa: ANN201
    """Publish accepted incidents and wait until dispatch has dispatched them all: their order rows, or (for a
    probe) how many seconds that took."""
    nc = await nats.connect(world.nats_url)
    started = time.monotonic()
    try:
        js = nc.jetstream()
        for event in events:
            await js.publish(INCIDENT_ACCEPTED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
    finally:
        await nc.close()
    wanted = {e.data.incident_id for e in events}

    async def all_dispatched():
        found = await rows(engine, select(WorkOrder.incident_id, WorkOrder.id, WorkOrder.state,
                                          WorkOrder.sign_deadline, WorkOrder.tier)
                           .where(WorkOrder.incident_id.in_(wanted)))
        return found if len(found) == len(wanted) and all(r.state == "dispatched" for r in found) else None

    found = await eventually(all_dispatched, timeout=patience, interval=0.05)
    return found if rows_out else time.monotonic() - started


async def escalations(engine) -> Counter:  # noqa: ANN001
    """Escalate audit rows per order."""
    found = await rows(engine, select(OrderAudit.order_id).where(OrderAudit.action == "escalate"))
    return Counter(r.order_id for r in found)


async def stream_escalations(nats_url: str) -> Counter:
    """cn.mcc.order.escalated.v1 events on MCC_ORDERS per order id."""
    try:
        nc = await nats.connect(nats_url, allow_reconnect=False, connect_timeout=1)
    except Exception:
        return Counter()
    try:
        messages = await stream_messages(nc.jetstream(), "MCC_ORDERS", ESCALATED.wildcard)
    finally:
        await nc.close()
    events = [json.loads(m.data) for m in messages]
    assert all(e["type"] == ESCALATED.type for e in events)
    return Counter(e["data"]["order_id"] for e in events)


async def _exactly(counts_coro, expected: set[str]) -> Counter | None:  # noqa: ANN001
    """The counts once every expected order is there; fails at once on a second escalation or a stranger."""
    counts = await counts_coro
    assert all(n == 1 for n in counts.values()), f"escalated more than once: {counts.most_common(3)}"
    assert set(counts) <= expected, f"escalations of orders not in this test: {set(counts) - expected}"
    return counts if expected <= set(counts) else None


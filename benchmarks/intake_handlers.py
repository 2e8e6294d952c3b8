"""Intake's two consumer handlers in-process, without NATS: CPU per incident for one reported incident and one
order event of it, handled in fetched batches of `--batch` (`handle_incidents_reported`, then
`handle_orders_changed`, one transaction each) on a fresh database. A batch of 1 is what a trickle of incidents
makes (the whole pipeline at tens a second); 200 is a full fetch. CPU is this process's (`time.process_time()`:
the handlers, SQLAlchemy, the driver and its socket writes), not the database server's.

    .venv/bin/python benchmarks/intake_handlers.py                       # SQLite file, batches of 1 and 20
    .venv/bin/python benchmarks/intake_handlers.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: E402

from benchmarks.intake_stage import fresh_database  # noqa: E402
from services.intake.adapters.orm import metadata  # noqa: E402
from services.intake.adapters.uow import IntakeUnitOfWork  # noqa: E402
from services.intake.service import handlers  # noqa: E402
from shared.categories import CategoryTable  # noqa: E402
from shared.consuming import parse_event  # noqa: E402
from shared.db import create_engine  # noqa: E402
from shared.events.catalog import INCIDENT_REPORTED, ORDER_EVENTS  # noqa: E402
from shared.events.envelope import utcnow  # noqa: E402
from shared.events.v1 import (  # noqa: E402
    AppealType,
    Channel,
    IncidentReported,
    Location,
    OrderChanged,
    OrderState,
)
from shared.outbox import Outbox, build_event  # noqa: E402


def deliveries(n: int) -> list[tuple]:
    """(IncidentReported, order.dispatched) CloudEvents as a consumer parses them, one pair per incident."""
    out = []
    for _ in range(n):
        ref = uuid.uuid4().hex[:16]
        report = IncidentReported(incident_id=f"bench-{ref}", channel=Channel.HOTLINE, source_ref=ref,
                                  category_code="010201", description="路灯不亮已经一周", reported_at=utcnow(),
                                  location=Location(town_code="320613101", county_code="320613"))
        order = OrderChanged(order_id=f"o-{ref}", order_number=f"N{ref}", incident_id=report.incident_id,
                             action="dispatch", from_state=OrderState.ACCEPTED, to_state=OrderState.DISPATCHED,
                             version=2, unit_code="u1", county_code="320613", category_code="010201",
                             appeal_type=AppealType.COMPLAINT, channel=Channel.HOTLINE, source_ref=ref,
                             actor="system:bench", occurred_at=utcnow())
        out.append((parse_event(build_event(INCIDENT_REPORTED, report, source="/bench").to_json()),
                    parse_event(build_event(ORDER_EVENTS["dispatched"], order, source="/bench").to_json())))
    return out


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="mcc-intake-handlers-") as tmp:
        async with fresh_database(args.database_url, Path(tmp)) as url:
            engine = create_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
                sessions = async_sessionmaker(engine, expire_on_commit=False)
                outbox = Outbox(metadata.tables["outbox"], source="/mcc/intake")
                reference = handlers.Reference(categories=CategoryTable.load())

                def uow() -> IntakeUnitOfWork:
                    return IntakeUnitOfWork(sessions, outbox, metadata.tables["processed_event"])

                async def handle(pairs: list[tuple], batch: int) -> None:
                    for i in range(0, len(pairs), batch):
                        chunk = pairs[i:i + batch]
                        await handlers.handle_incidents_reported([r for r, _ in chunk], uow=uow(), locator=None,
                                                                 reference=reference)
                        await handlers.handle_orders_changed([o for _, o in chunk], uow=uow())

                await handle(deliveries(200), 1)  # warm up: connections, prepared statements, caches
                db = "PostgreSQL" if args.database_url else "SQLite"
                for run in range(args.runs):
                    for batch in args.batch:
                        pairs = deliveries(args.incidents)
                        cpu, wall = time.process_time(), time.monotonic()
                        await handle(pairs, batch)
                        cpu_ms = (time.process_time() - cpu) * 1000 / args.incidents
                        wall_ms = (time.monotonic() - wall) * 1000 / args.incidents
                        print(f"{db}, run {run + 1}, batches of {batch}: {cpu_ms:.2f} ms CPU per incident "
                              f"(report + order event), {wall_ms:.2f} ms wall; load1 {os.getloadavg()[0]:.2f}")
            finally:
                await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=1000, help="incidents per run and batch size")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 20], help="incidents per fetched batch")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--database-url", help="a PostgreSQL server URL: a fresh database on it, dropped after")
    asyncio.run(main(parser.parse_args()))

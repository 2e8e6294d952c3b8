"""Running numbers stay unique across processes and restarts without a row every writer queues on."""

from __future__ import annotations

import asyncio
import contextlib

from services.hotline import bootstrap
from services.hotline.adapters.orm import metadata
from services.hotline.config import HotlineSettings
from shared.counters import Numbers
from shared.db import create_engine, session_factory
from shared.migrations import upgrade
from tests.integration.hotline.support import APPEAL, token
from tests.support.apps import make_runtime, running


async def test_the_first_appeals_of_a_day_from_two_hotline_processes_at_once_all_succeed_with_distinct_numbers(
        db, nats_url, redis_url):
    # 200 on PostgreSQL, where the day's first numbers used to race for the counter row and then queue on its
    # lock until commit; SQLite has one writer at a time anyway, so fewer show the same there.
    per_process = 100 if db.backend == "postgres" else 20
    first = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                         seed_knowledge=False, number_block=25)
    second = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                          seed_knowledge=False, number_block=25)
    async with running(bootstrap.build(runtime=first)) as a, running(bootstrap.build(runtime=second)) as b:
        async def create(client, i: int):  # noqa: ANN001, ANN202
            body = {**APPEAL, "caller_phone": f"1390000{i:04d}", "description": f"第{i}号诉求: 路灯不亮"}
            return await client.post("/api/v1/appeals", json=body, headers=token(first))

        answers = await asyncio.gather(*(create(a if i % 2 else b, i) for i in range(2 * per_process)))
    statuses = [r.status_code for r in answers]
    assert [s for s in statuses if s >= 500] == [], {s: statuses.count(s) for s in set(statuses)}
    assert statuses == [201] * len(statuses), [r.text for r in answers if r.status_code != 201][:3]
    numbers = [r.json()["number"] for r in answers]
    assert len(set(numbers)) == len(numbers) == 2 * per_process


async def test_numbers_from_many_sources_and_a_restart_are_unique_and_ascend_within_each_source(db):
    await upgrade("hotline", db.url, schema=db.schema)
    engine = create_engine(db.url, schema=db.schema)
    sessions = session_factory(engine)
    table = metadata.tables["counter"]
    sources = [Numbers(table, database_url=db.url, schema=db.schema, block=7) for _ in range(3)]
    taken: dict[int, list[str]] = {i: [] for i in range(len(sources))}

    async def take(i: int, count: int) -> None:
        async with sessions() as session, session.begin():
            taken[i].extend(await sources[i].take(session, prefix="GD", day="20261202", count=count))

    try:
        await asyncio.gather(*(take(i % 3, 1 + i % 4) for i in range(60)))
        for source in sources:
            await source.close()
        restarted = Numbers(table, database_url=db.url, schema=db.schema, block=7)  # its block starts afresh
        async with sessions() as session, session.begin():
            after = await restarted.take(session, prefix="GD", day="20261202", count=3)
            tomorrow = await restarted.next(session, prefix="GD", day="20261203")
        await restarted.close()
    finally:
        for source in sources:
            with contextlib.suppress(Exception):
                await source.close()
        await engine.dispose()
    everything = [n for numbers in taken.values() for n in numbers] + after
    assert len(everything) == len(set(everything)) == sum(1 + i % 4 for i in range(60)) + 3
    for numbers in taken.values():
        assert numbers == sorted(numbers)  # one source counts up through its blocks
    assert all(n.startswith("GD20261202") and len(n) == len("GD20261202000001") for n in everything)
    assert tomorrow == "GD20261203000001" or db.backend == "postgres" and tomorrow.startswith("GD20261203")

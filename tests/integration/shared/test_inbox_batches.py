"""The inbox records a fetched batch of event ids in one statement and names the ones seen for the first time,
so a redelivered batch (or a batch repeating an id) has no second effect, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import MetaData, func, select

from shared.db import create_engine, session_factory
from shared.outbox import mark_processed_many, messaging_tables


async def test_a_batch_names_only_the_ids_its_consumer_had_not_seen_and_records_each_once(db):
    metadata = MetaData()
    _, inbox = messaging_tables(metadata)
    engine = create_engine(db.url, schema=db.schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        async with sessions() as session:
            first = await mark_processed_many(session, inbox, consumer="c", event_ids=["a", "b", "b", "c"])
            await session.commit()
        async with sessions() as session:
            # A redelivered batch with one new id; another consumer sees every id for the first time.
            again = await mark_processed_many(session, inbox, consumer="c", event_ids=["c", "d", "a"])
            other = await mark_processed_many(session, inbox, consumer="other", event_ids=["a"])
            single = await mark_processed_many(session, inbox, consumer="c", event_ids=["e"])
            await session.commit()
        async with sessions() as session:
            count = (await session.execute(select(func.count()).select_from(inbox))).scalar_one()
        assert (first, again, other, single) == ({"a", "b", "c"}, {"d"}, {"a"}, {"e"})
        assert count == 6
    finally:
        await engine.dispose()

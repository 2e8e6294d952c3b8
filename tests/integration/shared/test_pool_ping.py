"""A pooled PostgreSQL connection whose server went away is replaced at checkout, without a ping round trip."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from shared.db import create_engine
from tests.support.polling import eventually


async def test_a_connection_the_server_closed_is_replaced_at_the_next_checkout(db):
    if db.backend != "postgres":
        pytest.skip("SQLite has no server to go away")
    engine = create_engine(db.url, schema=db.schema, pool_size=1)
    admin = create_engine(db.url, pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("select pg_backend_pid()"))).scalar_one()
            raw = (await conn.get_raw_connection()).driver_connection
        async with admin.connect() as conn:  # what a server restart does to every backend
            await conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        await eventually(lambda: raw.is_closed() or None)
        async with engine.connect() as conn:  # no error: the checkout saw the closed socket and reconnected
            assert (await conn.execute(text("select pg_backend_pid()"))).scalar_one() != pid
        # A live connection is not pinged over the wire: the check reads its socket's state and nothing else.
        live = SimpleNamespace(_connection=SimpleNamespace(is_closed=lambda: False))
        closed = SimpleNamespace(_connection=SimpleNamespace(is_closed=lambda: True))
        assert engine.dialect.do_ping(live) is True and engine.dialect.do_ping(closed) is False
    finally:
        await asyncio.gather(engine.dispose(), admin.dispose())

"""Concurrent creates share transactions without changing any answer, and the duplicate check reads by index."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, text

from services.hotline.adapters import appeal_queries
from services.hotline.adapters.orm import Appeal
from services.hotline.domain.duplicates import bounding_box, cell_of, cells_within
from shared.events.envelope import utcnow

from .support import APPEAL, POINT, hotline


async def test_concurrent_creates_share_transactions_and_a_bad_one_is_refused_alone(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url) as h:
        writer = h.client._transport.app.state.hotline.appeal_writer  # type: ignore[attr-defined]
        bodies = [{**APPEAL, "description": f"夜间施工扰民 {i}", "caller_phone": f"1381234{i:04d}"} for i in range(40)]
        for i in (3, 17, 31):
            bodies[i] = {**bodies[i], "category_code": "9999"}  # passes the schema, refused by the rules
        bodies[25] = {**bodies[25], "link_to_order": "GD-NO-SUCH-ORDER"}
        responses = await asyncio.gather(*(h.client.post("/api/v1/appeals", json=b, headers=h.headers)
                                           for b in bodies))
        refused = {i: r.json()["detail"][0]["field"] for i, r in enumerate(responses) if r.status_code == 422}
        assert refused == {3: "category_code", 17: "category_code", 31: "category_code", 25: "link_to_order"}
        created = [r.json() for r in responses if r.status_code == 201]
        assert len(created) == 36
        assert len({c["number"] for c in created}) == 36
        assert await h.count("appeal") == 36
        assert writer.groups < 36  # shared transactions, not one each
        reported = await h.reported(at_least=36)
        assert sorted(m["data"]["incident_id"] for m in reported) == sorted(c["incident_id"] for c in created)


async def test_one_idempotency_key_sent_three_times_at_once_creates_one_appeal(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url) as h:
        headers = {**h.headers, "Idempotency-Key": "call-20261202-0001"}
        other = {**APPEAL, "description": "另一件事"}
        responses = await asyncio.gather(
            h.client.post("/api/v1/appeals", json=APPEAL, headers=headers),
            h.client.post("/api/v1/appeals", json=APPEAL, headers=headers),
            h.client.post("/api/v1/appeals", json=other, headers=headers))
        assert await h.count("appeal") == 1
        fresh = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
        assert len(fresh) == 1  # whichever body won the key created the one appeal
        winner = responses.index(fresh[0])
        for n, response in enumerate(responses):
            if n == winner:
                continue
            if (n < 2) == (winner < 2):  # the same body as the winner: its replay
                assert response.status_code == 201 and response.headers["Idempotent-Replayed"] == "true"
                assert response.json()["number"] == fresh[0].json()["number"]
            else:
                assert response.status_code == 422
                assert response.json()["detail"][0]["type"] == "conflict"  # one dialect (shared/http.py)


async def test_an_appeal_is_filed_under_its_cell_and_the_nearby_read_uses_the_cell_index(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url) as h:
        created = await h.create(coordinates=POINT)
        async with h.runtime.sessions() as session:
            row = (await session.execute(select(Appeal).where(Appeal.number == created["number"]))).scalar_one()
            assert row.cell == cell_of(POINT["lon"], POINT["lat"])
            query = appeal_queries.nearby_query(
                category_code=APPEAL["category_code"], cells=cells_within(POINT["lon"], POINT["lat"], 300),
                box=bounding_box(POINT["lon"], POINT["lat"], 300), since=utcnow() - timedelta(days=3), limit=200)
            compiled = query.compile(dialect=session.bind.dialect, compile_kwargs={"render_postcompile": True})
            if db.backend == "postgres":
                await session.execute(text("SET LOCAL enable_seqscan = off"))
                sql = str(query.compile(compile_kwargs={"render_postcompile": True}))
                plan = "\n".join(r[0] for r in await session.execute(text("EXPLAIN " + sql), compiled.params))
            else:
                sql = str(query.compile(compile_kwargs={"render_postcompile": True}))
                plan = "\n".join(str(tuple(r)) for r in await session.execute(text("EXPLAIN QUERY PLAN " + sql),
                                                                             compiled.params))
        assert "ix_appeal_category_cell_created" in plan, plan
        if db.backend == "sqlite":
            assert "cell=?" in plan, plan


async def test_a_batch_of_order_events_applies_each_once_and_the_newest_version_wins(db, nats_url, redis_url):
    from services.hotline.service import handlers
    from shared.events.catalog import ORDER_EVENTS
    from shared.events.envelope import CloudEvent
    from shared.events.v1 import AppealType, Channel, OrderChanged

    async with hotline(db, nats_url, redis_url) as h:
        appeal = await h.create()

        def event(version: int, to_state: str, name: str) -> CloudEvent:
            change = OrderChanged(
                order_id="order-9", order_number="GD20261202000009", incident_id=appeal["incident_id"], action=name,
                from_state=None, to_state=to_state, version=version, unit_code="320612101", tier="town",
                county_code="320612", town_code="320612101", category_code=appeal["category_code"],
                appeal_type=AppealType(appeal["appeal_type"]), channel=Channel.HOTLINE,
                source_ref=appeal["number"], actor="system:test", occurred_at=utcnow())
            return CloudEvent[OrderChanged](source="/mcc/dispatch", type=ORDER_EVENTS[name].type, subject="order-9",
                                            data=change)

        signed, dispatched, done = event(2, "signed", "signed"), event(1, "dispatched", "dispatched"), \
            event(3, "closed", "closed")
        await handlers.handle_orders_changed([signed, dispatched, signed], uow=h.runtime.uow())
        after = await h.appeal(appeal["number"])
        assert (after["status"], after["order_number"]) == ("signed", "GD20261202000009")
        await handlers.handle_orders_changed([done, dispatched], uow=h.runtime.uow())
        assert (await h.appeal(appeal["number"]))["status"] == "closed"

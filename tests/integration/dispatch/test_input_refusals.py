"""Periods that do not exist and times without a zone are 422s naming the parameter, not 500s."""

from __future__ import annotations

from tests.support.dispatch import ADMIN, CITY_CENTRE


async def test_impossible_periods_and_zoneless_times_are_refused_by_name(start_dispatch):
    async with start_dispatch() as d:
        for period in ("2026-13", "0000-00", "2026-W99", "2026-02-30", "9999-12"):
            answer = await d.client.get("/api/v1/rates", params={"period": period}, headers=CITY_CENTRE)
            assert answer.status_code == 422, (period, answer.text)
            assert answer.json()["detail"][0]["field"] == "period"
        league = await d.client.get("/api/v1/rates/league", params={"month": "0000-00"}, headers=CITY_CENTRE)
        assert league.status_code == 422 and league.json()["detail"][0]["field"] == "month", league.text
        assert (await d.client.get("/api/v1/rates", params={"period": "2026-W48"}, headers=CITY_CENTRE)).status_code == 200
        for path, name in (("/api/v1/alerts", "since"), ("/api/v1/access-log", "until")):
            naive = await d.client.get(path, params={name: "2026-11-01T08:00:00"}, headers=ADMIN)
            assert naive.status_code == 422, naive.text
            assert naive.json()["detail"][0]["field"] == name and naive.json()["detail"][0]["type"] == "timezone_aware"
            aware = await d.client.get(path, params={name: "2026-11-01T08:00:00+08:00"}, headers=ADMIN)
            assert aware.status_code == 200, aware.text


async def test_order_lists_filter_by_town_code_as_grid_does_and_still_understand_the_old_name(start_dispatch):
    from tests.support.dispatch import TZ_TOWN_A, TZ_TOWN_B, accepted_incident

    async with start_dispatch() as d:
        mine = await d.incident(accepted_incident(town=TZ_TOWN_A))
        await d.incident(accepted_incident(town=TZ_TOWN_B))
        for name in ("town_code", "town"):
            found = await d.client.get("/api/v1/orders", params={name: TZ_TOWN_A, "view": "all"}, headers=CITY_CENTRE)
            assert found.status_code == 200, found.text
            assert [o["number"] for o in found.json()["items"]] == [mine["number"]], name


async def test_fifty_concurrent_queue_reads_on_sqlite_never_meet_a_locked_database(start_dispatch, db):
    """Each queue read writes its access-log rows: on SQLite (WAL, one connection per process, busy timeout, see
    shared/db.py) 50 of them at once all answer 200 — none fails with `database is locked`."""
    import asyncio

    import pytest

    from tests.support.dispatch import TZ_TOWN_A, accepted_incident

    if db.backend != "sqlite":
        pytest.skip("SQLite's single writer is the point")
    async with start_dispatch() as d:
        orders = [await d.incident(accepted_incident(town=TZ_TOWN_A)) for _ in range(3)]
        reads = [d.client.get("/api/v1/orders", params={"view": "all"}, headers=CITY_CENTRE) for _ in range(40)]
        reads += [d.client.get(f"/api/v1/orders/{orders[i % 3]['number']}", headers=CITY_CENTRE) for i in range(10)]
        answers = await asyncio.gather(*reads)
        assert [a.status_code for a in answers] == [200] * 50, [a.text for a in answers if a.status_code != 200][:1]

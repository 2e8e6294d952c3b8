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

"""Order search (text, number, dates, state, category, town) and its CSV export, scoped exactly like the list."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from services.dispatch.domain.sla import CHINA_TZ
from shared.events.envelope import utcnow
from tests.support.dispatch import CITY_CENTRE, TOWN_A, TZ_TOWN_A, TZ_TOWN_B, accepted_incident


async def _numbers(d, headers, **params) -> set[str]:
    response = await d.client.get("/api/v1/orders", params={"view": "all", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return {o["number"] for o in response.json()["items"]}


async def test_orders_are_found_by_words_number_dates_and_state_within_the_readers_scope(start_dispatch):
    async with start_dispatch() as d:
        lamp = await d.incident(accepted_incident(town=TZ_TOWN_A, description="路灯不亮已经一周", address="人民路12号"))
        litter = await d.incident(accepted_incident(town=TZ_TOWN_A, description="小区垃圾没人清运", address="青年路3号"))
        other = await d.incident(accepted_incident(town=TZ_TOWN_B, description="路灯闪烁", address="人民路88号"))

        assert await _numbers(d, CITY_CENTRE, q="路灯 人民路") == {lamp["number"], other["number"]}
        assert await _numbers(d, CITY_CENTRE, q="路灯 青年路") == set()  # every word must match
        assert await _numbers(d, TOWN_A, q="人民路") == {lamp["number"]}  # another town's order stays unseen
        assert await _numbers(d, CITY_CENTRE, q="%") == set()  # a wildcard is a character, not a pattern
        assert await _numbers(d, CITY_CENTRE, number=litter["number"]) == {litter["number"]}
        assert await _numbers(d, CITY_CENTRE, town=TZ_TOWN_B, category="0201") == {other["number"]}

        signed = await d.client.post(f"/api/v1/orders/{lamp['number']}/actions/sign", json={}, headers=TOWN_A)
        assert signed.status_code == 200, signed.text
        assert await _numbers(d, CITY_CENTRE, state="signed") == {lamp["number"]}

        today = utcnow().astimezone(CHINA_TZ).date()
        tomorrow = (today + timedelta(days=1)).isoformat()
        assert await _numbers(d, CITY_CENTRE, since=tomorrow) == set()
        assert len(await _numbers(d, CITY_CENTRE, since=today.isoformat(), until=tomorrow)) == 3
        bad = await d.client.get("/api/v1/orders", params={"since": "yesterday"}, headers=CITY_CENTRE)
        assert bad.status_code == 422


async def test_a_query_exports_as_csv_for_excel_scoped_like_the_list_and_each_read_logged(start_dispatch):
    async with start_dispatch() as d:
        lamp = await d.incident(accepted_incident(town=TZ_TOWN_A, description="路灯不亮，\"夜里\"很黑", address="人民路12号"))
        other = await d.incident(accepted_incident(town=TZ_TOWN_B, description="路灯闪烁", address="人民路88号"))

        exported = await d.client.get("/api/v1/orders", params={"view": "all", "q": "路灯", "format": "csv"},
                                      headers=TOWN_A)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        assert exported.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["工单编号 number", "来源编号 source_ref", "状态 state"]
        assert [r[0] for r in rows[1:]] == [lamp["number"]]  # town B's order is not in town A's export
        assert rows[1][10] == "路灯不亮，\"夜里\"很黑" and rows[1][9] == "人民路12号"
        assert exported.headers["x-total-count"] == "1"

        city = await d.client.get("/api/v1/orders", params={"view": "all", "q": "路灯", "format": "csv"},
                                  headers=CITY_CENTRE)
        assert {r[0] for r in list(csv.reader(io.StringIO(city.content.decode("utf-8-sig"))))[1:]} == {
            lamp["number"], other["number"]}
        nothing = await d.client.get("/api/v1/orders", params={"view": "all", "number": other["number"],
                                                                "format": "csv"}, headers=TOWN_A)
        assert len(list(csv.reader(io.StringIO(nothing.content.decode("utf-8-sig"))))) == 1  # header only

        log = (await d.client.get("/api/v1/access-log", params={"order": lamp["number"]},
                                  headers=CITY_CENTRE)).json()
        exports = [(e["subject"], e["view"]) for e in log if e["view"] == "export"]
        assert sorted(exports) == sorted([(s, "export") for s in ("town_dispatcher@" + TZ_TOWN_A,
                                                                   "city_dispatcher@320600")])


async def test_the_board_searches_and_exports_through_the_same_query(start_dispatch):
    async with start_dispatch() as d:
        lamp = await d.incident(accepted_incident(town=TZ_TOWN_A, description="路灯不亮", address="人民路12号"))
        litter = await d.incident(accepted_incident(town=TZ_TOWN_A, description="垃圾没人清运", address="青年路3号"))
        await d.incident(accepted_incident(town=TZ_TOWN_B, description="路灯闪烁", address="人民路88号"))
        queue = await d.client.get("/board/queue", params={"q": "人民路"}, headers=TOWN_A)
        assert queue.status_code == 200 and lamp["number"] in queue.text and litter["number"] not in queue.text
        exported = await d.client.get("/board/export.csv", params={"q": "路灯", "view": "open"}, headers=TOWN_A)
        assert exported.status_code == 200 and exported.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert [r[0] for r in rows[1:]] == [lamp["number"]]
        page = await d.client.get("/board", headers=TOWN_A)
        assert 'href="/board/export.csv" data-query-from="filters"' in page.text and 'data-key="/"' in page.text

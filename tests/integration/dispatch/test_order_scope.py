"""Dispatch's scope is one rule: a list shows exactly the orders reading one would show, and an order outside
the caller's scope is never told apart from one that does not exist (merging into it included)."""

from __future__ import annotations

from tests.support.dispatch import (
    CC_TOWN,
    CITY_CENTRE,
    COUNTY,
    OTHER_COUNTY,
    TOWN_A,
    TOWN_B,
    TZ_TOWN_B,
    accepted_incident,
)


async def merge(client, order, master, headers):
    return await client.post(f"/api/v1/orders/{order['number']}/actions/merge", headers=headers,
                             json={"master": master, "reason": "同一点位重复反映"})


async def test_merging_into_an_order_you_cannot_see_answers_as_if_it_did_not_exist(start_dispatch):
    async with start_dispatch() as d:
        duplicate = await d.incident(accepted_incident())
        hidden = await d.incident(accepted_incident(town=TZ_TOWN_B))
        into_hidden = await merge(d.client, duplicate, hidden["number"], TOWN_A)
        into_nothing = await merge(d.client, duplicate, "GD20991231999999", TOWN_A)
        assert into_hidden.status_code == into_nothing.status_code == 422
        assert into_hidden.text.replace(hidden["number"], "REF") == into_nothing.text.replace("GD20991231999999", "REF")
        read = await d.client.get(f"/api/v1/orders/{duplicate['number']}", headers=TOWN_A)
        assert read.json()["state"] == "dispatched"
        master = await d.client.get(f"/api/v1/orders/{hidden['number']}", headers=TOWN_B)
        assert master.json()["duplicate_count"] == 0


async def test_a_list_shows_exactly_the_orders_reading_one_would_show(start_dispatch):
    async with start_dispatch() as d:
        orders = [await d.incident(accepted_incident(town=town)) for town in ("320612101", TZ_TOWN_B, CC_TOWN)]
        for headers in (TOWN_A, TOWN_B, COUNTY, OTHER_COUNTY, CITY_CENTRE):
            listed = await d.client.get("/api/v1/orders", params={"view": "all", "limit": 500}, headers=headers)
            shown = {o["number"] for o in listed.json()["items"]}
            readable = {o["number"] for o in orders
                        if (await d.client.get(f"/api/v1/orders/{o['number']}", headers=headers)).status_code == 200}
            assert shown & {o["number"] for o in orders} == readable


async def test_a_page_refuses_a_role_that_does_not_fit_its_unit_as_the_api_does(start_dispatch):
    from tests.support.dispatch import CITY, bearer

    async with start_dispatch() as d:
        assert (await d.client.get("/board", headers=TOWN_A)).status_code == 200
        for headers in (bearer("town_dispatcher", CITY), bearer("county_dispatcher", "320612101")):
            assert (await d.client.get("/board", headers=headers)).status_code == 403
            assert (await d.client.get("/api/v1/orders", headers=headers)).status_code == 403

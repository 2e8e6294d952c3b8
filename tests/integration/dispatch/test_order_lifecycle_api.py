"""The closed loop through dispatch's API: routing, sign-for, return and arbitration, extension, close,
follow-up, reopen, merge, scope (404 for another town's order), 409 with the allowed actions, and one event
and one audit row per transition."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from services.dispatch.adapters.orm import OrderAccess, OrderAudit
from shared.events.catalog import FOLLOWUP_RECORDED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealType, FollowUpRecorded
from tests.support.accounts import cookie_credentials
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import (
    ADMIN,
    CITY_CENTRE,
    COUNTY,
    DEPARTMENT,
    OPERATOR,
    OTHER_COUNTY,
    TONGZHOU,
    TOWN_A,
    TOWN_B,
    TZ_TOWN_A,
    TZ_TOWN_B,
    accepted_incident,
)
from tests.support.polling import eventually


async def act(client, order, action, headers, **body):
    return await client.post(f"/api/v1/orders/{order['number']}/actions/{action}", json=body, headers=headers)


async def audit_count(runtime, order_id) -> int:
    async with runtime.sessions() as s:
        return (await s.execute(select(func.count()).select_from(OrderAudit)
                                .where(OrderAudit.order_id == order_id))).scalar_one()


async def test_a_territorial_matter_goes_to_its_town_and_a_departments_to_the_county_bureau(start_dispatch):
    async with start_dispatch() as d:
        town_order = await d.incident(accepted_incident(town=TZ_TOWN_A))
        water_order = await d.incident(accepted_incident(town=TZ_TOWN_A, category=DEPARTMENT))
        nowhere = await d.incident(accepted_incident(town=None, county=TONGZHOU))
        assert (town_order["state"], town_order["unit_code"]) == ("dispatched", TZ_TOWN_A)
        assert (water_order["state"], water_order["unit_code"]) == ("dispatched", f"{TONGZHOU}-water")
        assert (nowhere["state"], nowhere["unit_code"]) == ("queued", TONGZHOU)  # 属地兜底: the county routes it

        body = (await d.client.get(f"/api/v1/orders/{town_order['number']}", headers=TOWN_A)).json()
        assert body["sign_deadline"] and body["handle_deadline"] and body["time_left_s"] > 0
        assert body["allowed_actions"] == ["sign", "return", "escalate", "merge"]


async def test_the_whole_closed_loop_with_one_event_and_one_audit_row_per_transition(start_dispatch, nats_url):
    async with start_dispatch() as d, jetstream(nats_url) as js:
        order = await d.incident(accepted_incident())
        steps = [
            ("sign", TOWN_A, {}),
            ("request_extension", TOWN_A, {"reason": "需协调施工单位", "extension": "2wd"}),
            ("approve_extension", COUNTY, {"extension": "1wd"}),
            ("urge", COUNTY, {"reason": "群众再次来电"}),
            ("start", TOWN_A, {}),
            ("close", TOWN_A, {"result": "已清运并建立日清制度", "evidence": ["photo://after-1.jpg"]}),
        ]
        before = (await d.client.get(f"/api/v1/orders/{order['number']}", headers=TOWN_A)).json()
        for action, who, body in steps:
            response = await act(d.client, order, action, who, **body)
            assert response.status_code == 200, (action, response.text)
        after = response.json()
        assert after["state"] == "closed" and after["closed_on_time"] is True
        assert after["handle_deadline"] > before["handle_deadline"]  # the approved day moved it

        # 回访 from the hotline: dissatisfied and the unit at fault → reopened to the same town.
        follow_up = CloudEvent[FollowUpRecorded](
            source="/mcc/hotline", type=FOLLOWUP_RECORDED.type, subject=order["id"],
            data=FollowUpRecorded(order_id=order["id"], followup_id="f-1", reached=True, resolved=False,
                                  satisfaction="dissatisfied", unit_at_fault=True, operator="op-7",
                                  recorded_at=utcnow()))
        await js.publish(FOLLOWUP_RECORDED.subject, follow_up.to_json(), headers={"Nats-Msg-Id": follow_up.id})
        await js.publish(FOLLOWUP_RECORDED.subject, follow_up.to_json(), headers={"Nats-Msg-Id": follow_up.id + "x"})

        async def reopened():
            body = (await d.client.get(f"/api/v1/orders/{order['number']}", headers=TOWN_A)).json()
            return body if body["state"] == "dispatched" else None
        body = await eventually(reopened)
        assert body["reopen_count"] == 1 and body["unit_code"] == TZ_TOWN_A
        assert body["satisfaction"] == "dissatisfied"  # the last rating stays on record for the rates

        history = (await d.client.get(f"/api/v1/orders/{order['number']}/history", headers=TOWN_A)).json()["history"]
        actions = [h["action"] for h in history]
        assert actions == ["dispatch", "sign", "request_extension", "approve_extension", "urge", "start", "close",
                           "follow_up", "reopen"]
        assert [h["version"] for h in history] == list(range(1, len(history) + 1))
        assert history[2]["reason"] == "需协调施工单位" and history[3]["actor"] == f"county_dispatcher@{TONGZHOU}"

        events = await eventually(lambda: _at_least(stream_messages(js, "MCC_ORDERS"), len(history)))
        mine = [json.loads(m.data) for m in events if json.loads(m.data)["subject"] == order["id"]]
        assert [e["type"].split(".")[3] for e in mine] == ["dispatched", "signed", "extension_requested", "extended",
                                                          "urged", "started", "closed", "followed_up", "reopened"]
        assert {e["id"] for e in mine} == {h["event_id"] for h in history}
        assert await audit_count(d.runtime, order["id"]) == len(history)


async def test_a_return_is_arbitrated_by_the_county_which_routes_it_again(start_dispatch):
    async with start_dispatch() as d:
        order = await d.incident(accepted_incident())
        refused = await act(d.client, order, "return", TOWN_A)
        assert refused.status_code == 422 and "reason" in refused.text
        assert (await act(d.client, order, "return", TOWN_A, reason="不属于本镇职责")).json()["state"] == \
            "return_requested"
        # The town cannot arbitrate its own return; the county can.
        assert (await act(d.client, order, "approve_return", TOWN_A)).status_code == 403
        approved = await act(d.client, order, "approve_return", COUNTY)
        assert approved.json()["state"] == "queued" and approved.json()["unit_code"] == TONGZHOU
        routed = await act(d.client, order, "route", COUNTY, to_unit=TZ_TOWN_B)
        assert routed.status_code == 200 and routed.json()["unit_code"] == TZ_TOWN_B
        assert routed.json()["return_count"] == 1
        # Now town A no longer sees it, and town B does.
        assert (await d.client.get(f"/api/v1/orders/{order['number']}", headers=TOWN_A)).status_code == 404
        assert (await d.client.get(f"/api/v1/orders/{order['number']}", headers=TOWN_B)).status_code == 200


@pytest.mark.parametrize("carried", ["bearer", "cookie"])
async def test_another_towns_or_countys_order_is_a_404_and_a_forbidden_action_a_409_naming_what_is_allowed(
        start_dispatch, carried):
    # The same matrix holds whether the token comes as a bearer header (scripts) or a session cookie (browsers).
    def as_(headers):
        return headers if carried == "bearer" else cookie_credentials(headers)

    async with start_dispatch() as d:
        order = await d.incident(accepted_incident())
        for headers in (TOWN_B, OTHER_COUNTY, ADMIN):
            response = await d.client.get(f"/api/v1/orders/{order['number']}", headers=as_(headers))
            assert response.status_code in (403, 404) and "垃圾" not in response.text
            assert (await act(d.client, order, "sign", as_(headers))).status_code in (403, 404)
        assert (await d.client.get(f"/api/v1/orders/{order['number']}", headers=as_(TOWN_B))).status_code == 404
        listed = await d.client.get("/api/v1/orders", params={"view": "all"}, headers=as_(TOWN_B))
        assert listed.status_code == 200 and order["number"] not in listed.text
        assert (await d.client.get(f"/api/v1/orders/{order['number']}")).status_code == 401

        closing = await act(d.client, order, "close", as_(TOWN_A), result="done", evidence=["x"])
        assert closing.status_code == 409
        assert closing.json()["current_state"] == "dispatched"
        assert closing.json()["allowed_actions"] == ["sign", "return", "escalate", "merge"]
        assert (await act(d.client, order, "archive", as_(CITY_CENTRE))).status_code == 409
        assert (await act(d.client, order, "fly", as_(TOWN_A))).status_code == 422
        assert (await act(d.client, order, "sign", as_(TOWN_A), expected_version=99)).json().get("stale") is True
        assert (await act(d.client, order, "sign", as_(TOWN_A))).status_code == 200
        assert (await act(d.client, order, "sign", as_(TOWN_A))).status_code == 409  # twice: no second effect
        assert await audit_count(d.runtime, order["id"]) == 2
        if carried == "cookie":  # and a cookie without the CSRF header changes nothing
            forged = {k: v for k, v in as_(TOWN_A).items() if k != "X-CSRF-Token"}
            assert (await act(d.client, order, "start", forged)).status_code == 403
            assert await audit_count(d.runtime, order["id"]) == 2


async def test_queues_show_each_unit_its_own_orders_with_time_left_and_every_read_is_logged(start_dispatch):
    async with start_dispatch() as d:
        mine = [await d.incident(accepted_incident(town=TZ_TOWN_A)) for _ in range(3)]
        await d.incident(accepted_incident(town=TZ_TOWN_B))
        await act(d.client, mine[0], "sign", TOWN_A)

        page = (await d.client.get("/api/v1/orders", params={"view": "awaiting_sign"}, headers=TOWN_A)).json()
        assert page["total"] == 2 and {o["number"] for o in page["items"]} == {m["number"] for m in mine[1:]}
        assert all(o["time_left_s"] > 0 and not o["overdue"] for o in page["items"])
        assert (await d.client.get("/api/v1/orders", params={"view": "in_progress"}, headers=TOWN_A)).json()["total"] == 1
        assert (await d.client.get("/api/v1/orders", headers=COUNTY)).json()["total"] == 4
        assert (await d.client.get("/api/v1/orders", headers=OTHER_COUNTY)).json()["total"] == 0
        first = (await d.client.get("/api/v1/orders", params={"limit": 2}, headers=CITY_CENTRE)).json()
        second = (await d.client.get("/api/v1/orders", params={"limit": 2, "offset": 2}, headers=CITY_CENTRE)).json()
        assert first["total"] == 4 and len({o["id"] for o in first["items"] + second["items"]}) == 4

        await d.client.get(f"/api/v1/orders/{mine[1]['number']}", headers=TOWN_A)
        log = (await d.client.get("/api/v1/access-log", params={"order": mine[1]["number"]},
                                  headers=CITY_CENTRE)).json()
        assert {entry["view"] for entry in log} >= {"detail", "list"}
        assert any(entry["subject"] == f"town_dispatcher@{TZ_TOWN_A}" for entry in log)
        assert (await d.client.get("/api/v1/access-log", headers=TOWN_A)).status_code == 403
        async with d.runtime.sessions() as s:
            assert (await s.execute(select(func.count()).select_from(OrderAccess))).scalar_one() >= 10


async def test_a_duplicate_merges_into_its_master_and_the_master_counts_it(start_dispatch):
    async with start_dispatch() as d:
        master = await d.incident(accepted_incident())
        duplicate = await d.incident(accepted_incident())
        merged = await act(d.client, duplicate, "merge", TOWN_A, master=master["number"], reason="同一点位重复反映")
        assert merged.status_code == 200 and merged.json()["state"] == "merged"
        assert merged.json()["merged_into"] == master["id"]
        body = (await d.client.get(f"/api/v1/orders/{master['number']}", headers=TOWN_A)).json()
        assert body["duplicate_count"] == 1


async def test_a_county_reassigns_within_its_county_and_the_city_anywhere(start_dispatch):
    async with start_dispatch() as d:
        order = await d.incident(accepted_incident())
        outside = await act(d.client, order, "reassign", COUNTY, to_unit="320613101", reason="错派")
        assert outside.status_code == 403
        moved = await act(d.client, order, "reassign", COUNTY, to_unit=TZ_TOWN_B, reason="错派")
        assert moved.json()["unit_code"] == TZ_TOWN_B
        village = await act(d.client, order, "reassign", CITY_CENTRE, to_unit="320612102001", reason="下沉")
        assert village.status_code == 422 and "村" in village.text
        assert (await act(d.client, order, "supervise", CITY_CENTRE, reason="市级督办")).json()["supervised"] is True


async def test_operators_see_orders_but_not_callers_of_reports(start_dispatch):
    async with start_dispatch() as d:
        report = await d.incident(accepted_incident(appeal_type=AppealType.REPORT))
        body = (await d.client.get(f"/api/v1/orders/{report['number']}", headers=OPERATOR)).json()
        assert body["caller"] is None and body["appeal_type"] == "report"


async def test_an_administrator_edits_the_tree_and_a_broken_tree_is_refused_whole(start_dispatch):
    async with start_dispatch() as d:
        added = await d.client.put("/api/v1/admin/units/320612199", headers=ADMIN,
                                   json={"name": "新区街道", "kind": "town", "parent_code": TONGZHOU})
        assert added.status_code == 200
        units = (await d.client.get("/api/v1/units", params={"parent": TONGZHOU}, headers=COUNTY)).json()
        assert "320612199" in {u["code"] for u in units}
        order = await d.incident(accepted_incident(town="320612199"))
        assert order["unit_code"] == "320612199"
        orphan = await d.client.put("/api/v1/admin/units/999", headers=ADMIN,
                                    json={"name": "无主镇", "kind": "town", "parent_code": "nowhere"})
        assert orphan.status_code == 422 and "parent" in orphan.text
        assert (await d.client.put("/api/v1/admin/units/1", headers=COUNTY,
                                   json={"name": "x", "kind": "town", "parent_code": TONGZHOU})).status_code == 403
        assert (await d.client.delete("/api/v1/admin/units/320612199", headers=ADMIN)).status_code == 409  # holds one
        big = (await d.client.get("/api/v1/categories", params={"level": "big"}, headers=COUNTY)).json()
        assert len(big) == 18 and {"code": "04", "name": "供水"}.items() <= big[3].items()


async def _at_least(coro, n):
    items = await coro
    return items if len(items) >= n else None


async def test_a_caller_unreachable_after_the_last_attempt_gets_the_order_archived_unrated(start_dispatch, nats_url):
    async with start_dispatch() as d, jetstream(nats_url) as js:
        order = await d.incident(accepted_incident())
        for action, body in (("sign", {}), ("close", {"result": "已处理", "evidence": ["photo://1.jpg"]})):
            assert (await act(d.client, order, action, TOWN_A, **body)).status_code == 200
        for outcome in ("retry_call", "archive"):
            event = CloudEvent[FollowUpRecorded](
                source="/mcc/hotline", type=FOLLOWUP_RECORDED.type, subject=order["id"],
                data=FollowUpRecorded(order_id=order["id"], followup_id=f"f-{outcome}", reached=False,
                                      operator="op-7", recorded_at=utcnow(), outcome=outcome))
            await js.publish(FOLLOWUP_RECORDED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})

        async def archived():
            body = (await d.client.get(f"/api/v1/orders/{order['number']}", headers=TOWN_A)).json()
            return body if body["state"] == "archived" else None
        body = await eventually(archived)
        assert body["satisfaction"] is None and await audit_count(d.runtime, order["id"]) == 4

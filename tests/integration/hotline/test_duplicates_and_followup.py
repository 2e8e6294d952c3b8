"""重复件 (duplicates linked to one order, following its status) and 回访 (follow-up calls driving dispatch)."""

from __future__ import annotations

from shared.events.catalog import FOLLOWUP_RECORDED
from tests.support.polling import eventually

from .support import POINT, hotline

NEAR = {"lon": 120.8710, "lat": 32.0105}  # about 110 m from POINT
FAR = {"lon": 120.90, "lat": 32.05}


async def test_candidates_are_offered_for_the_same_caller_and_for_the_same_category_nearby(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        first = await h.create(caller_phone="13900000001", coordinates=POINT, description="工地夜间施工")
        assert first["duplicate_candidates"] == []
        again = await h.create(caller_phone="139 0000 0001", coordinates=FAR, description="又来反映")
        assert [(c["appeal_number"], c["reasons"]) for c in again["duplicate_candidates"]] == [
            (first["number"], ["same_caller"])]
        neighbour = await h.create(caller_phone="13700000002", coordinates=NEAR, description="隔壁工地很吵")
        [candidate] = neighbour["duplicate_candidates"]
        assert candidate["appeal_number"] == first["number"] and candidate["reasons"] == ["same_category_nearby"]
        assert 80 < candidate["distance_m"] < 150

        check = await h.client.post("/api/v1/appeals/duplicates", headers=h.headers, json={
            "caller_phone": "13900000001", "category_code": "0301", "coordinates": NEAR})
        assert check.status_code == 200
        best = check.json()["candidates"][0]
        assert best["appeal_number"] == first["number"]
        assert best["reasons"] == ["same_caller", "same_category_nearby"]  # both signals rank first
        other_category = await h.client.post("/api/v1/appeals/duplicates", headers=h.headers, json={
            "category_code": "0402", "coordinates": NEAR})
        assert other_category.json()["candidates"] == []
        unknown = await h.client.post("/api/v1/appeals/duplicates", headers=h.headers, json={
            "category_code": "9999", "coordinates": NEAR})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "category_code"


async def test_the_duplicate_radius_and_windows_are_settings(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False, duplicate_radius_m=50,
                       duplicate_caller_window_h=0) as h:
        await h.create(caller_phone="13900000001", coordinates=POINT)
        later = await h.create(caller_phone="13900000001", coordinates=NEAR)  # 110 m away, window 0 h
        assert later["duplicate_candidates"] == []


async def test_a_linked_appeal_publishes_no_incident_and_follows_the_master_orders_status(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        master = await h.create(caller_phone="13900000001", coordinates=POINT)
        linked = await h.create(caller_phone="13700000002", coordinates=NEAR, link_to_order=master["number"])
        assert (linked["disposition"], linked["linked_to"], linked["status"]) == ("linked", master["number"],
                                                                                   "accepted")
        assert master["number"] in linked["next_step"]
        await h.order_event(master, to_state="dispatched", version=1, order_number="GD20261123000009")

        async def both_dispatched():
            views = [await h.appeal(a["number"]) for a in (master, linked)]
            return views if all(v["status"] == "dispatched" for v in views) else None

        views = await eventually(both_dispatched)
        assert {v["order_number"] for v in views} == {"GD20261123000009"}
        assert views[1]["town_code"] == "320612101"

        # Linking by the order number works too, and the counts are kept per order.
        third = await h.create(caller_phone="13600000003", link_to_order="GD20261123000009")
        assert third["disposition"] == "linked" and third["order_number"] == "GD20261123000009"
        order = (await h.client.get("/api/v1/orders/GD20261123000009/appeals", headers=h.headers)).json()
        assert order["linked_count"] == 2 and order["master"]["number"] == master["number"]
        assert order["master"]["linked_count"] == 2
        assert {a["number"] for a in order["linked"]} == {linked["number"], third["number"]}

        await h.order_event(master, to_state="closed", version=4, order_number="GD20261123000009", name="closed")
        await h.order_event(master, to_state="signed", version=2, order_number="GD20261123000009", name="signed")

        await eventually(lambda: _processed(h, 3), message="the three order events consumed")
        views = [await h.appeal(a["number"]) for a in (master, linked, third)]
        # The late, older transition (signed, version 2) did not roll the status back.
        assert [v["status"] for v in views] == ["closed"] * 3
        disposed = await h.disposed(3)
        linked_events = [m["data"] for m in disposed if m["data"]["disposition"] == "linked"]
        assert [e["linked_appeal_number"] for e in linked_events] == [master["number"], master["number"]]
        assert linked_events[1]["linked_order_number"] == "GD20261123000009"
        assert [m["data"]["source_ref"] for m in await h.reported(1)] == [master["number"]]  # one incident

        unknown = await h.client.post("/api/v1/appeals", headers=h.headers, json={
            "caller_phone": "13600000003", "appeal_type": "complaint", "category_code": "0301",
            "description": "x", "link_to_order": "GD19990101000001"})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "link_to_order"


async def test_a_follow_up_on_a_closed_order_is_recorded_and_published_for_dispatch(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False, followup_max_attempts=2,
                       followup_retry_after_s=0) as h:
        appeal = await h.create()
        early = await h.client.post(f"/api/v1/appeals/{appeal['number']}/followups", headers=h.headers,
                                    json={"reached": False})
        assert early.status_code == 409  # no closed order yet
        await h.order_event(appeal, to_state="closed", version=5, order_id="order-77", name="closed")
        await eventually(lambda: _status_is(h, appeal, "closed"))

        missed = await h.client.post(f"/api/v1/appeals/{appeal['number']}/followups", headers=h.headers,
                                     json={"reached": False})
        assert missed.status_code == 201 and missed.json()["outcome"] == "retry_call"
        incomplete = await h.client.post(f"/api/v1/appeals/{appeal['number']}/followups", headers=h.headers,
                                         json={"reached": True, "resolved": False})
        assert incomplete.status_code == 422 and incomplete.json()["detail"][0]["field"] == "satisfaction"
        rated = await h.client.post(f"/api/v1/appeals/{appeal['id']}/followups", headers=h.headers, json={
            "reached": True, "resolved": False, "satisfaction": "dissatisfied", "unit_at_fault": True,
            "comment": "问题没有解决"})
        assert rated.status_code == 201, rated.text
        assert (rated.json()["outcome"], rated.json()["attempt"]) == ("reopen", 2)
        twice = await h.client.post(f"/api/v1/appeals/{appeal['id']}/followups", headers=h.headers, json={
            "reached": True, "resolved": True, "satisfaction": "satisfied"})
        assert twice.status_code == 409  # dispatch has not answered the first rating yet

        published = [m["data"] for m in await h.messages(FOLLOWUP_RECORDED, 2)]
        assert [(p["order_id"], p["reached"], p["satisfaction"]) for p in published] == [
            ("order-77", False, None), ("order-77", True, "dissatisfied")]
        assert published[1]["unit_at_fault"] is True and published[1]["operator"] == "op-7"
        assert all("13812341234" not in str(p) for p in published)
        assert await h.count("followup_call") == 2

        await h.order_event(appeal, to_state="in_progress", version=7, order_id="order-77", name="reopened")
        await eventually(lambda: _status_is(h, appeal, "in_progress"))


async def test_the_api_refuses_a_retry_call_sooner_than_the_spacing(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:  # default spacing: 4 hours
        appeal = await h.create()
        await h.order_event(appeal, to_state="closed", version=5, order_id="order-78", name="closed")
        await eventually(lambda: _status_is(h, appeal, "closed"))
        url = f"/api/v1/appeals/{appeal['number']}/followups"
        missed = await h.client.post(url, headers=h.headers, json={"reached": False})
        assert missed.status_code == 201 and missed.json()["retry_after_s"] == 4 * 3600
        too_soon = await h.client.post(url, headers=h.headers, json={
            "reached": True, "resolved": True, "satisfaction": "satisfied"})
        assert too_soon.status_code == 409 and "之后才能再次回访" in too_soon.json()["detail"]
        assert await h.count("followup_call") == 1
        assert len(await h.messages(FOLLOWUP_RECORDED, 1)) == 1


async def test_a_follow_up_after_the_unreachable_archive_or_on_an_archived_order_answers_409(
        db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False, followup_max_attempts=1,
                       followup_retry_after_s=0) as h:
        appeal = await h.create()
        await h.order_event(appeal, to_state="closed", version=5, order_id="order-79", name="closed")
        await eventually(lambda: _status_is(h, appeal, "closed"))
        url = f"/api/v1/appeals/{appeal['number']}/followups"
        unreachable = await h.client.post(url, headers=h.headers, json={"reached": False})
        assert unreachable.status_code == 201 and unreachable.json()["outcome"] == "archive"
        again = await h.client.post(url, headers=h.headers, json={"reached": False})
        assert again.status_code == 409  # dispatch is archiving it: no second vote
        await h.order_event(appeal, to_state="archived", version=6, order_id="order-79", name="archived")
        await eventually(lambda: _status_is(h, appeal, "archived"))
        archived = await h.client.post(url, headers=h.headers, json={
            "reached": True, "resolved": True, "satisfaction": "satisfied"})
        assert archived.status_code == 409 and "已归档" in archived.json()["detail"]
        assert await h.count("followup_call") == 1


async def test_a_merge_done_in_dispatch_links_the_appeal_to_the_master_orders_appeal(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        master = await h.create(caller_phone="13900000011", coordinates=POINT)
        merged = await h.create(caller_phone="13700000012", coordinates=FAR)
        await h.order_event(master, to_state="dispatched", version=1, order_id="order-m",
                            order_number="GD20261123000101")
        await h.order_event(merged, to_state="dispatched", version=1, order_id="order-d",
                            order_number="GD20261123000102")
        await eventually(lambda: _status_is(h, merged, "dispatched"))
        await h.order_event(merged, to_state="merged", version=2, order_id="order-d",
                            order_number="GD20261123000102", name="merged", details={"master": "order-m"})

        async def linked():
            view = await h.appeal(merged["number"])
            return view if view["linked_to"] == master["number"] else None

        view = await eventually(linked, message="the merged appeal linked to the master's appeal")
        assert view["order_number"] == "GD20261123000101"
        order = (await h.client.get("/api/v1/orders/GD20261123000101/appeals", headers=h.headers)).json()
        assert order["linked_count"] == 1 and [a["number"] for a in order["linked"]] == [merged["number"]]
        await h.order_event(master, to_state="closed", version=4, order_id="order-m",
                            order_number="GD20261123000101", name="closed")
        await eventually(lambda: _status_is(h, merged, "closed"), message="the merged appeal follows the master")


async def _status_is(h, appeal: dict, status: str) -> bool:
    return (await h.appeal(appeal["number"]))["status"] == status


async def _processed(h, n: int) -> bool:
    return await h.count("processed_event") >= n

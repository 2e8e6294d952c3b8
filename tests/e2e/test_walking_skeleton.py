"""An appeal and a grid report go through all four services and come out as assigned work orders."""

from __future__ import annotations

import httpx
import pytest

from tests.support.polling import eventually_sync
from tests.support.stack import Stack

# A point in the demo city (南通); whichever grid it falls in, the order must go to that grid's town.
POINT = {"lon": 120.87, "lat": 32.01}


def order_for(client: httpx.Client, stack: Stack, *, source_ref: str) -> dict | None:
    from tests.support.dispatch import bearer

    response = client.get(f"{stack.url('dispatch')}/api/v1/orders", params={"source_ref": source_ref, "view": "all"},
                          headers=bearer("city_dispatcher", "320600"))
    response.raise_for_status()
    orders = response.json()["items"]
    return orders[0] if orders else None


def test_an_appeal_posted_to_the_hotline_becomes_a_work_order_assigned_to_the_town_that_owns_it(
        stack, operator_headers):
    with httpx.Client(timeout=10) as client:
        where = client.get(f"{stack.url('grid')}/api/v1/lookup", params=POINT).json()
        assert where["town_code"], where
        created = client.post(f"{stack.url('hotline')}/api/v1/appeals", json={
            "caller_phone": "13912345678", "appeal_type": "complaint", "category_code": "020101",
            "description": "路灯不亮已经一周", "coordinates": POINT}, headers=operator_headers)
        assert created.status_code == 201, created.text
        appeal = created.json()

        order = eventually_sync(lambda: order_for(client, stack, source_ref=appeal["number"]), timeout=30,
                                 message="the appeal reaches dispatch")
        assert order["state"] == "dispatched"
        assert order["tier"] == "town" and order["unit_code"] == where["town_code"]
        assert order["grid_code"] == where["grid_code"]
        assert order["caller"]["phone_masked"] == "139****5678"

        # The hotline hears back from dispatch: the operator sees the order number.
        def appeal_knows_its_order():
            body = client.get(f"{stack.url('hotline')}/api/v1/appeals/{appeal['id']}", headers=operator_headers).json()
            return body if body["order_number"] == order["number"] else None

        eventually_sync(appeal_knows_its_order, timeout=30)
        intake = client.get(f"{stack.url('intake')}/api/v1/incidents/{appeal['incident_id']}",
                            headers=operator_headers).json()
        assert intake["town_code"] == where["town_code"] and intake["located_by"] == "coordinates"


def test_an_event_reported_through_the_grid_api_becomes_a_work_order_for_its_town(stack):
    import uuid

    from tests.support.dispatch import bearer

    with httpx.Client(timeout=10) as client:
        issued = client.post(f"{stack.url('grid')}/api/v1/admin/api-keys", json={"name": "e2e grid app"},
                             headers=bearer("admin", "320600"))
        assert issued.status_code == 201, issued.text
        created = client.post(f"{stack.url('grid')}/api/v1/events", json={
            "category_code": "020101", "description": "河道漂浮垃圾", "reporter_id": "gw-001", **POINT},
            headers={"X-Api-Key": issued.json()["key"], "Idempotency-Key": str(uuid.uuid4())})
        assert created.status_code == 201, created.text
        event = created.json()
        order = eventually_sync(lambda: order_for(client, stack, source_ref=event["id"]), timeout=30)
        assert order["unit_code"] == event["town_code"] and order["channel"] == "grid"


@pytest.mark.parametrize("service", ["intake", "hotline", "grid", "dispatch"])
def test_every_service_is_ready_and_exposes_metrics(stack, service):
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{stack.url(service)}/healthz").status_code == 200
        ready = client.get(f"{stack.url(service)}/readyz")
        uses_redis = {"intake": False, "hotline": True, "grid": True, "dispatch": True}[service]
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        assert set(ready.json()["checks"]) == {"database", "nats"} | ({"redis"} if uses_redis else set())
        metrics = client.get(f"{stack.url(service)}/metrics").text
        assert "mcc_http_requests_total" in metrics


def test_an_appeal_with_only_an_address_is_located_by_the_place_names_in_it(stack, operator_headers):
    from shared.democity import units

    town = next(u for u in units() if u.kind == "town" and u.name == "钟秀街道")
    county = next(u for u in units() if u.code == town.parent_code)
    with httpx.Client(timeout=10) as client:
        created = client.post(f"{stack.url('hotline')}/api/v1/appeals", json={
            "caller_phone": "13912345678", "appeal_type": "help", "category_code": "020101",
            "description": "门口路灯坏了", "address": f"{county.name}{town.name}人民路18号"},
            headers=operator_headers)
        assert created.status_code == 201, created.text
        order = eventually_sync(lambda: order_for(client, stack, source_ref=created.json()["number"]), timeout=30)
        assert (order["unit_code"], order["located_by"]) == (town.code, "address")

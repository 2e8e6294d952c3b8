"""nats-server killed while appeals are being created, then started again: every appeal is dispatched."""

from __future__ import annotations

import httpx

from tests.support.polling import eventually_sync

POINT = {"lon": 120.87, "lat": 32.01}


def test_every_appeal_is_dispatched_after_nats_is_killed_mid_stream_and_restarted(stack, operator_headers,
                                                                                  city_headers):
    numbers: list[str] = []
    with httpx.Client(timeout=10) as client:
        def create(i: int) -> None:
            response = client.post(f"{stack.url('hotline')}/api/v1/appeals", json={
                "caller_phone": "13700001111", "appeal_type": "help", "category_code": "020101",
                "description": f"井盖缺失 {i}", "coordinates": POINT}, headers=operator_headers)
            assert response.status_code == 201, response.text
            numbers.append(response.json()["number"])

        for i in range(10):
            create(i)
        stack.nats.kill()  # kill -9, JetStream data stays on disk
        for i in range(10, 30):
            create(i)  # the hotline keeps accepting: the outbox holds the events
        stack.nats.start()

        def all_dispatched():
            response = client.get(f"{stack.url('dispatch')}/api/v1/orders", params={"limit": 500, "view": "all"},
                                  headers=city_headers)
            refs = {o["source_ref"] for o in response.json()["items"]}
            missing = [n for n in numbers if n not in refs]
            assert not missing, f"{len(missing)} appeals not dispatched yet"
            return True

        eventually_sync(all_dispatched, timeout=60, interval=0.5)
        orders = client.get(f"{stack.url('dispatch')}/api/v1/orders", params={"limit": 500, "view": "all"},
                            headers=city_headers).json()["items"]
        assert len([o for o in orders if o["source_ref"] in numbers]) == len(numbers) == 30  # once each

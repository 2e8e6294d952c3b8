"""The simulator's client waits out a rate limit or a service that is down instead of dropping the request."""

from __future__ import annotations

import httpx

from services.simulator.client import Calls, Http


async def test_a_rate_limited_create_is_sent_again_after_retry_after_with_the_same_body():
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if len(seen) == 1:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "rate limit"})
        if len(seen) == 2:
            return httpx.Response(503)
        return httpx.Response(201, json={"id": "e1"})

    http = Http(Calls())
    http.client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    try:
        response = await http.request("grid event", "POST", "http://grid/api/v1/events", json={"id": "sim-g1"})
    finally:
        await http.close()
    assert response is not None and response.status_code == 201
    assert [c.status for c in http.calls.items] == [429, 503, 201] and len(set(seen)) == 1


async def test_a_refusal_is_returned_at_once():
    http = Http(Calls())
    http.client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(422, json={})))
    try:
        response = await http.request("detection", "POST", "http://intake/api/v1/detections", json={})
    finally:
        await http.close()
    assert response.status_code == 422 and len(http.calls.items) == 1

"""Failed authentication is limited per client address (bad bearer tokens and bad API keys alike): past the
limit every attempt from that address answers 429 with Retry-After, a right guess included, while other
addresses and good credentials are unaffected. An intake key has a per-key rate limit, as grid's keys do."""

from __future__ import annotations

import uuid

import httpx

from shared.auth import mint_token
from shared.roles import Role

BAD_TOKEN = {"Authorization": "Bearer " + mint_token("not-the-secret" * 3, subject="x", role=Role.CITY,
                                                     unit_code="320600")}


def detection() -> dict:
    return {"detector": "satellite-rs", "confidence": 0.95, "evidence_url": "https://rs.example.cn/t.png",
            "category_code": "020102", "coordinates": {"lon": 120.21, "lat": 31.71}}


async def test_past_the_limit_of_failed_tokens_an_address_is_refused_even_with_a_good_token(start_intake):
    async with start_intake(auth_failures_per_minute=5) as intake:
        answers = [(await intake.client.get("/api/v1/incidents", headers=BAD_TOKEN)).status_code for _ in range(6)]
        assert answers == [401] * 5 + [429]
        blocked = await intake.client.get("/api/v1/incidents", headers=intake.city)
        assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60
        elsewhere = httpx.AsyncClient(transport=httpx.ASGITransport(app=intake.app, client=("10.8.0.2", 40000)),
                                      base_url="http://test")
        async with elsewhere:
            assert (await elsewhere.get("/api/v1/incidents", headers=intake.city)).status_code == 200


async def test_good_credentials_are_never_counted_however_many_requests_an_address_makes(start_intake):
    async with start_intake(auth_failures_per_minute=3) as intake:
        for _ in range(40):
            assert (await intake.client.get("/api/v1/incidents", headers=intake.city)).status_code == 200
        assert (await intake.client.get("/api/v1/incidents")).status_code == 401  # no credentials: not a guess
        assert (await intake.client.get("/api/v1/incidents", headers=intake.city)).status_code == 200


async def test_wrong_api_keys_count_as_failed_authentication(start_intake):
    async with start_intake(auth_failures_per_minute=3) as intake:
        _, key = await intake.issue_key()
        wrong = "mcc_" + key.split("_")[1] + "_" + "A" * 32
        codes = [(await intake.client.post("/api/v1/detections", json=detection(),
                                           headers={"X-Api-Key": wrong, "Idempotency-Key": uuid.uuid4().hex})
                  ).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        right = await intake.client.post("/api/v1/detections", json=detection(),
                                         headers={"X-Api-Key": key, "Idempotency-Key": uuid.uuid4().hex})
        assert right.status_code == 429 and "Retry-After" in right.headers
        open311 = await intake.client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "010201"})
        assert open311.status_code == 429


async def test_an_intake_key_past_its_rate_limit_gets_429_with_retry_after(start_intake):
    async with start_intake(rate_limit_per_minute=3) as intake:
        _, key = await intake.issue_key()
        codes = []
        for _ in range(4):
            answer = await intake.client.post("/api/v1/detections", json=detection(),
                                              headers={"X-Api-Key": key, "Idempotency-Key": uuid.uuid4().hex})
            codes.append(answer.status_code)
        assert codes == [202, 202, 202, 429]
        assert int(answer.headers["Retry-After"]) >= 1 and answer.headers["RateLimit-Remaining"] == "0"

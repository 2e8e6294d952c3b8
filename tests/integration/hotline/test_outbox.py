"""Appeals accepted while NATS is down are published once NATS is back: nothing accepted is lost."""

from __future__ import annotations

import json

from services.hotline import bootstrap
from services.hotline.adapters.orm import metadata
from services.hotline.config import HotlineSettings
from shared.events.catalog import INCIDENT_REPORTED
from tests.support.apps import jetstream, make_runtime, running, stream_messages
from tests.support.polling import eventually

from .support import token

APPEAL = {"caller_phone": "13812341234", "appeal_type": "complaint", "category_code": "0301",
          "description": "楼下饭店油烟扰民", "address": "崇川区和平桥街道"}


async def test_appeals_created_while_nats_is_down_are_published_once_it_is_back(db, nats, nats_url, redis_url):
    runtime = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    app = bootstrap.build(runtime=runtime)
    async with running(app) as client:
        nats.kill()
        await eventually(lambda: not runtime.bus.is_ready(), message="bus notices NATS is gone")
        created = []
        for i in range(20):
            response = await client.post("/api/v1/appeals", json={**APPEAL, "description": f"油烟扰民 {i}"},
                                         headers=token(runtime))
            assert response.status_code == 201, response.text
            created.append(response.json()["incident_id"])
        # Still ready: it accepts appeals (above) and keeps their events in the outbox; NATS is reported.
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["nats"].startswith("not connected")

        nats.start()
        await eventually(lambda: runtime.bus.is_ready(), timeout=30, message="bus reconnects")
        async with jetstream(nats_url) as js:
            async def all_published():
                messages = await stream_messages(js, INCIDENT_REPORTED.stream, INCIDENT_REPORTED.subject)
                return messages if len(messages) >= 20 else None

            messages = await eventually(all_published, timeout=30)
            incident_ids = [json.loads(m.data)["data"]["incident_id"] for m in messages]
            assert sorted(incident_ids) == sorted(created)  # each once, none lost
        assert (await client.get("/readyz")).json()["status"] == "ok"


async def test_an_appeal_event_carries_the_masked_phone_only(db, nats_url, redis_url):
    runtime = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    async with running(bootstrap.build(runtime=runtime)) as client, jetstream(nats_url) as js:
        assert (await client.post("/api/v1/appeals", json=APPEAL, headers=token(runtime))).status_code == 201
        report = {**APPEAL, "appeal_type": "report", "description": "有人非法排污"}
        assert (await client.post("/api/v1/appeals", json=report, headers=token(runtime))).status_code == 201
        messages = await eventually(
            lambda: _at_least(stream_messages(js, INCIDENT_REPORTED.stream, INCIDENT_REPORTED.subject), 2))
        bodies = [m.data.decode() for m in messages]
        assert all("13812341234" not in b for b in bodies)
        by_type = {json.loads(b)["data"]["appeal_type"]: json.loads(b)["data"] for b in bodies}
        assert by_type["complaint"]["caller"]["phone_masked"] == "138****1234"
        assert by_type["report"].get("caller") is None


async def _at_least(coro, n):
    messages = await coro
    return messages if len(messages) >= n else None


async def test_a_bad_phone_number_is_a_field_level_422_and_writes_nothing(db, nats_url, redis_url):
    runtime = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    async with running(bootstrap.build(runtime=runtime)) as client:
        response = await client.post("/api/v1/appeals", json={**APPEAL, "caller_phone": "12ab"},
                                     headers=token(runtime))
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["detail"]] == ["caller_phone"]
        missing = await client.post("/api/v1/appeals", json={"appeal_type": "nonsense"}, headers=token(runtime))
        assert missing.status_code == 422
        assert {"appeal_type", "category_code", "description"} <= {e["field"] for e in missing.json()["detail"]}
        async with runtime.sessions() as session:
            from sqlalchemy import func, select

            from services.hotline.adapters.orm import Appeal
            assert (await session.execute(select(func.count()).select_from(Appeal))).scalar_one() == 0

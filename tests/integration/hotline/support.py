"""A hotline app in the test's event loop, operators' tokens, and order events as dispatch would send them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from services.hotline import bootstrap
from services.hotline.adapters.orm import metadata
from services.hotline.config import HotlineSettings
from shared.auth import mint_token
from shared.events.catalog import APPEAL_DISPOSED, INCIDENT_REPORTED, ORDER_EVENTS
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealType, Channel, OrderChanged
from shared.roles import Role
from shared.runtime import Runtime
from tests.support.apps import jetstream, make_runtime, running, stream_messages
from tests.support.org import demo_org
from tests.support.polling import eventually

APPEAL = {"caller_phone": "13812341234", "appeal_type": "complaint", "category_code": "0301",
          "description": "楼下工地夜里一直施工", "address": "崇川区和平桥街道"}
POINT = {"lon": 120.87, "lat": 32.01}


def token(runtime: Runtime, role: Role = Role.OPERATOR, subject: str = "op-7", unit: str = "320600") -> dict:
    return {"Authorization": f"Bearer {mint_token(runtime.settings.token_secret, subject=subject, role=role, unit_code=unit)}"}


@dataclass
class Hotline:
    client: httpx.AsyncClient
    runtime: Runtime
    js: Any
    headers: dict

    async def create(self, body: dict | None = None, **extra: Any) -> dict:
        response = await self.client.post("/api/v1/appeals", json={**APPEAL, **(body or {}), **extra},
                                          headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()

    async def count(self, table: str) -> int:
        async with self.runtime.sessions() as session:
            return (await session.execute(select(func.count()).select_from(metadata.tables[table]))).scalar_one()

    async def messages(self, spec: Any, at_least: int = 0) -> list[dict]:
        """Every message of that event type actually published on NATS, as parsed JSON envelopes."""

        async def enough() -> list[Any] | None:
            found = await stream_messages(self.js, spec.stream, spec.wildcard)
            return found if len(found) >= at_least else None

        found = await eventually(enough, timeout=15, message=f"{at_least} {spec.subject} on NATS")
        return [json.loads(m.data) for m in found]

    async def reported(self, at_least: int = 0) -> list[dict]:
        return await self.messages(INCIDENT_REPORTED, at_least)

    async def disposed(self, at_least: int = 0) -> list[dict]:
        return await self.messages(APPEAL_DISPOSED, at_least)

    async def order_event(self, appeal: dict, *, to_state: str, version: int, order_number: str = "GD20261123000001",
                          order_id: str = "order-1", name: str = "dispatched",
                          details: dict | None = None) -> None:
        """Publish an order transition for this appeal, as dispatch does."""
        change = OrderChanged(
            order_id=order_id, order_number=order_number, incident_id=appeal["incident_id"], action=name,
            from_state=None, to_state=to_state, version=version, unit_code="320612101", tier="town",
            county_code="320612", town_code="320612101", category_code=appeal["category_code"],
            appeal_type=AppealType(appeal["appeal_type"]), channel=Channel.HOTLINE, source_ref=appeal["number"],
            actor="system:test", occurred_at=utcnow(), details=details or {})
        spec = ORDER_EVENTS[name]
        event = CloudEvent[OrderChanged](source="/mcc/dispatch", type=spec.type, subject=order_id, data=change)
        await self.js.publish(spec.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})

    async def appeal(self, ref: str) -> dict:
        response = await self.client.get(f"/api/v1/appeals/{ref}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()


@contextlib.asynccontextmanager
async def hotline(db: Any, nats_url: str, redis_url: str, **settings: Any) -> AsyncIterator[Hotline]:
    runtime = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                           **settings)
    async with running(bootstrap.build(runtime=runtime, org=demo_org())) as client, jetstream(nats_url) as js:
        yield Hotline(client, runtime, js, token(runtime))

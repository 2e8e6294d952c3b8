"""A service stopping (SIGTERM, a deploy) lets the message it is handling finish before it closes the
clients that handler uses."""

from __future__ import annotations

import asyncio
from typing import Any

from services.hotline.adapters.orm import metadata
from services.hotline.config import HotlineSettings
from shared.events.catalog import INCIDENT_ACCEPTED
from shared.messaging import ConsumerSpec
from shared.service import service_app
from tests.support.apps import jetstream, make_runtime
from tests.support.dispatch import accepted_incident
from tests.support.polling import eventually


async def test_a_handler_in_flight_at_shutdown_finishes_with_its_client_still_open(db, nats_url, redis_url):
    runtime = make_runtime("hotline", HotlineSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    client = {"open": True}
    started, release = asyncio.Event(), asyncio.Event()
    outcome: list[str] = []

    async def handler(_: Any) -> None:
        started.set()
        await release.wait()
        outcome.append("used an open client" if client["open"] else "found its client closed")

    async def close_client() -> None:
        client["open"] = False

    app = service_app(runtime=runtime, title="test", routers=[], extra_stop=close_client, consumers=[
        ConsumerSpec(stream=INCIDENT_ACCEPTED.stream, durable="slow", subjects=(INCIDENT_ACCEPTED.subject,),
                     handler=handler)])
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    await runtime.bus.wait_connected(30)
    async with jetstream(nats_url) as js:
        event = accepted_incident()
        await js.publish(INCIDENT_ACCEPTED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
        await asyncio.wait_for(started.wait(), 30)
        stopping = asyncio.create_task(lifespan.__aexit__(None, None, None))
        # Shutdown has begun (consumers told to stop, or, in the wrong order, the client already closed).
        await eventually(lambda: runtime.bus._stopping.is_set() or not client["open"])
        release.set()
        await asyncio.wait_for(stopping, 30)
        assert outcome == ["used an open client"]
        info = await js.consumer_info(INCIDENT_ACCEPTED.stream, "slow")
        assert info.num_ack_pending == 0 and info.num_pending == 0  # acked before the connection closed

"""A three-node JetStream cluster, as `mcc up --cluster` and the Kubernetes manifests run it: streams at three
replicas, and the outbox relay rides out the loss of the stream's leader (publishes time out, are retried
with the same Nats-Msg-Id once a new leader is elected, and land once each)."""

from __future__ import annotations

import asyncio

import nats as nats_client
import pytest

from shared.devservers import nats_cluster
from tests.integration.shared.test_outbox_relay import STREAM, SUBJECT, pending, relay_on, write_rows
from tests.support.apps import stream_messages
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path):
    nodes = nats_cluster(tmp_path / "nats", 3)
    for node in nodes:
        node.start()
    yield nodes
    for node in nodes:
        node.stop()


def leader_of(info) -> str:  # noqa: ANN001
    return info.cluster.leader if info.cluster else ""


# What is under test is NATS; the outbox's database does not matter, so SQLite alone keeps the suite short.
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_events_written_while_the_stream_leader_is_killed_land_once_each_on_a_stream_of_three_replicas(
        db, cluster):
    url = ",".join(f"nats://127.0.0.1:{n.port}" for n in cluster)
    async with relay_on(db, url, stream_replicas=3) as (outbox, relay, sessions):
        relaying = asyncio.create_task(relay.run())
        nc = await nats_client.connect(servers=url.split(","))
        js = nc.jetstream(timeout=10)

        async def drained() -> bool:
            return await pending(outbox, sessions) == 0

        try:
            before = await write_rows(outbox, sessions, 200, tag="before")
            await eventually(drained, timeout=60)
            info = await js.stream_info(STREAM)
            assert info.config.num_replicas == 3
            leader = next(n for n in cluster if n.name == "nats-" + leader_of(info).removeprefix("mcc-"))
            leader.kill()
            after = await write_rows(outbox, sessions, 200, tag="after")
            await eventually(drained, timeout=120,
                             message="the relay did not get past the leader's loss")
            info = await eventually(lambda: js.stream_info(STREAM), timeout=60)
            assert leader_of(info) and leader_of(info) != leader.name.replace("nats-", "mcc-")
            messages = await stream_messages(js, STREAM, SUBJECT)
            payloads = [m.data for m in messages]
            assert sorted(payloads) == sorted(r["payload"] for r in before + after)  # each once: none lost, none doubled
        finally:
            relay.stop()
            await asyncio.wait_for(relaying, 10)
            await nc.close()

"""Intake takes a fetched batch in one transaction: reported incidents (accepted, held, rejected, duplicates) and
order events for the status projection, each event once and in the right order whatever NATS redelivers."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import event, select

from services.intake.adapters.orm import OrderStatus
from services.intake.adapters.uow import IntakeUnitOfWork
from services.intake.service import handlers
from shared.events.catalog import INCIDENT_ACCEPTED, INCIDENT_REPORTED, ORDER_EVENTS
from shared.events.envelope import utcnow
from shared.events.v1 import AppealType, Channel, Coordinates, Detection, Location, OrderChanged
from shared.outbox import build_event
from tests.integration.intake.conftest import GRID, FakeGrid
from tests.integration.intake.test_one_door import reported
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import CITY_CENTRE
from tests.support.polling import eventually


class CountingUow(IntakeUnitOfWork):
    """The runtime's unit of work, counting the transactions its sessions commit (not the relay's)."""

    def __init__(self, runtime) -> None:
        self.commits = 0

        def sessions():
            session = runtime.sessions()
            event.listen(session.sync_session, "after_commit", lambda _s: self._count())
            return session

        super().__init__(sessions, runtime.outbox, runtime.inbox)

    def _count(self) -> None:
        self.commits += 1


def detection(confidence: float):
    return reported(channel=Channel.DETECTION, category="010201", location=Location(
        coordinates=Coordinates(lon=120.86, lat=32.01)), detection=Detection(
        detector="noise-sensor", confidence=confidence, evidence_url="https://example.org/e.jpg"))


async def published(js, incident_ids) -> list[tuple[str, str]]:
    """(subject, incident id) of every incident event published for these incidents."""
    out = []
    for m in await stream_messages(js, "MCC_INCIDENTS"):
        incident_id = json.loads(m.data)["data"]["incident_id"]
        if incident_id in incident_ids:
            out.append((m.subject, incident_id))
    return sorted(out)


async def test_a_batch_of_reports_is_one_transaction_and_each_incident_is_recorded_once(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        good, held, bad = reported(), detection(0.3), reported(category="999999")
        events = [build_event(INCIDENT_REPORTED, r, source="/test") for r in (good, held, bad)]
        republished = events[0].model_copy(update={"id": str(uuid.uuid4())})  # same incident, another event id
        batch = [*events, republished, events[1]]  # and one event twice
        uow = CountingUow(intake.runtime)
        await handlers.handle_incidents_reported(batch, uow=uow, locator=FakeGrid(),
                                                 reference=intake.app.state.reference)
        assert uow.commits == 1
        statuses = {}
        for r in (good, held, bad):
            answer = await intake.client.get(f"/api/v1/incidents/{r.incident_id}", headers=CITY_CENTRE)
            statuses[r.incident_id] = answer.json()["status"]
        assert statuses == {good.incident_id: "accepted", held.incident_id: "held", bad.incident_id: "rejected"}
        assert await intake.count("incident") == 3
        ids = {good.incident_id, held.incident_id, bad.incident_id}
        # Both on the county intake located them in (the grid's), so a county's consumer group gets them.
        expected = sorted([(f"mcc.incident.accepted.{GRID.county_code}", good.incident_id),
                           (f"mcc.incident.held.{GRID.county_code}", held.incident_id)])

        async def all_published() -> list | None:  # the relay may have sent one of the two so far: wait for both
            found = await published(js, ids)
            return found if found == expected else None

        assert await eventually(all_published, message=f"both of {expected} published") == expected

        async def outbox_empty() -> bool:  # the relay deletes acknowledged rows after it published them
            return await intake.count("outbox") == 0

        await eventually(outbox_empty, message="the published rows deleted from the outbox")
        # Delivered again, the whole batch has no effect: no incident, no event written.
        await handlers.handle_incidents_reported(batch, uow=intake.runtime.uow(), locator=FakeGrid(),
                                                 reference=intake.app.state.reference)
        assert await intake.count("incident") == 3 and await intake.count("outbox") == 0
        assert await published(js, ids) == expected


async def test_many_reports_published_at_once_are_all_accepted_through_the_batching_consumer(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        reports = [reported(location=Location(coordinates=Coordinates(lon=120.86, lat=32.01))) for _ in range(300)]
        for r in reports:
            e = build_event(INCIDENT_REPORTED, r, source="/test")
            await js.publish(INCIDENT_REPORTED.subject, e.to_json(), headers={"Nats-Msg-Id": e.id})

        async def all_accepted() -> bool:
            return len(await stream_messages(js, "MCC_INCIDENTS", INCIDENT_ACCEPTED.wildcard)) >= len(reports)

        await eventually(all_accepted, timeout=120, message="every report accepted")
        assert await intake.count("incident") == len(reports)
        rows = await intake.client.get(f"/api/v1/incidents/{reports[-1].incident_id}", headers=CITY_CENTRE)
        assert rows.json()["grid_code"] == GRID.grid_code


def changed(incident_id: str, order_id: str, version: int, state: str, at, **extra) -> OrderChanged:
    return OrderChanged(order_id=order_id, order_number=f"GD-{order_id}", incident_id=incident_id, version=version,
                        from_state=None, to_state=state, action="dispatch", occurred_at=at, category_code="010201",
                        appeal_type=AppealType.HELP, channel=Channel.HOTLINE, source_ref=incident_id,
                        actor="system:test", **extra)


async def test_order_events_in_one_batch_leave_the_latest_transition_whatever_their_order(start_intake):
    async with start_intake() as intake:
        t0 = utcnow()
        a, b = f"inc-{uuid.uuid4().hex[:8]}", f"inc-{uuid.uuid4().hex[:8]}"
        events = [build_event(ORDER_EVENTS[c.to_state], c, source="/test") for c in (
            changed(a, "o-a", 3, "closed", t0 + timedelta(minutes=3)),
            changed(a, "o-a", 2, "signed", t0 + timedelta(minutes=2)),  # older, arriving after
            changed(b, "o-b", 1, "dispatched", t0, unit_code="320613101"),
            changed(b, "o-b", 2, "signed", t0 + timedelta(minutes=1)),
        )]
        uow = CountingUow(intake.runtime)
        await handlers.handle_orders_changed(events + events[:1], uow=uow)
        assert uow.commits == 1
        async with intake.runtime.sessions() as session:
            rows = {r.incident_id: r for r in (await session.execute(select(OrderStatus))).scalars()}
        assert (rows[a].state, rows[a].version) == ("closed", 3)
        assert (rows[b].state, rows[b].version, rows[b].unit_code) == ("signed", 2, "320613101")

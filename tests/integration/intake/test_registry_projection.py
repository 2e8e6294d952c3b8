"""Intake locates in-process from its own stored copy of grid's registry: the same answer as grid's lookup for
every point, through a grid outage and a restart during one, refreshed when grid's registry changes, and an
incident waits (never dead-lettered) while intake has no copy at all."""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from services.grid import bootstrap as grid_bootstrap
from services.grid.adapters.orm import metadata as grid_metadata
from services.grid.config import GridSettings
from services.intake import bootstrap
from services.intake.adapters.grid_client import GridClient
from services.intake.adapters.orm import GridRegistrySnapshot, metadata
from services.intake.config import IntakeSettings
from shared.democity import grids
from shared.events.catalog import INCIDENT_REPORTED
from shared.events.envelope import utcnow
from shared.events.v1 import Channel, Coordinates, IncidentReported, Location
from shared.outbox import build_event
from shared.snapshot_store import latest_row
from tests.conftest import Database, _pg_exec
from tests.integration.grid.conftest import TOWN_A, Grid, first_grid, inside
from tests.support.apps import jetstream, make_runtime, running, stream_messages
from tests.support.dispatch import CITY_CENTRE
from tests.support.geo import side_by_side
from tests.support.org import demo_org
from tests.support.polling import eventually

FIELDS = ("grid_code", "village_code", "town_code", "county_code", "located_by", "flagged")


class SwitchableGrid(httpx.AsyncBaseTransport):
    """The real grid app behind a switch: while `down`, every call fails as a refused connection would."""

    def __init__(self, app: Any = None, *, down: bool = False) -> None:
        self.app, self.down = app, down

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down or self.app is None:
            raise httpx.ConnectError("grid is down", request=request)
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@pytest.fixture
def grid_db(db: Database, tmp_path) -> Iterator[Database]:
    """A database of grid's own, beside intake's (`db`)."""
    if db.backend == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'grid.db'}")
        return
    schema = f"g_{uuid.uuid4().hex[:12]}"
    _pg_exec(db.url, f'CREATE SCHEMA "{schema}"')
    try:
        yield Database("postgres", db.url, schema)
    finally:
        _pg_exec(db.url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def start_grid(grid_db, nats_url, redis_url, tmp_path):
    @contextlib.asynccontextmanager
    async def start() -> AsyncIterator[Grid]:
        runtime = make_runtime("grid", GridSettings, grid_metadata, db=grid_db, nats_url=nats_url,
                               redis_url=redis_url, photo_dir=str(tmp_path / "photos"))
        app = grid_bootstrap.build(runtime.settings, runtime=runtime)
        async with running(app) as client:
            yield Grid(app, client)

    return start


@pytest.fixture
def start_intake_on(db, nats_url, redis_url):
    """Intake (the real app, its real database) copying the registry through `transport`."""
    @contextlib.asynccontextmanager
    async def start(transport: httpx.AsyncBaseTransport, **overrides: Any) -> AsyncIterator[Any]:
        runtime = make_runtime("intake", IntakeSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                               registry_poll_s=0.2, **overrides)
        source = GridClient("http://grid", transport=transport)
        app = bootstrap.build(runtime.settings, runtime=runtime, registry_source=source, org=demo_org())
        try:
            async with running(app) as client:
                yield app, client
        finally:
            await source.close()

    return start


def city_points(rng: random.Random) -> list[tuple[float, float]]:
    """Random points over the demo city and around it, every corner and edge midpoint of 60 random grids (the
    shared boundaries where tie-breaking decides), and two points far outside (Nanjing, and (0, 0))."""
    city = list(grids())
    xs = [x for g in city for x, _ in g.polygon]
    ys = [y for g in city for _, y in g.polygon]
    pad_x, pad_y = (max(xs) - min(xs)) * 0.05, (max(ys) - min(ys)) * 0.05
    points = [(rng.uniform(min(xs) - pad_x, max(xs) + pad_x), rng.uniform(min(ys) - pad_y, max(ys) + pad_y))
              for _ in range(600)]
    for g in rng.sample(city, 60):
        ring = list(g.polygon)
        points += ring
        points += [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in zip(ring, ring[1:] + ring[:1], strict=True)]
        points.append((inside(g)["lon"], inside(g)["lat"]))
    return points + [(118.7969, 32.0603), (0.0, 0.0)]


def local(app: Any, lon: float, lat: float) -> tuple:
    found = app.state.registry.locate(lon, lat)
    return tuple(getattr(found, f) for f in FIELDS)


async def grids_answer(grid: Grid, lon: float, lat: float) -> tuple:
    body = (await grid.client.get("/api/v1/lookup", params={"lon": lon, "lat": lat})).json()
    return tuple(body[f] for f in FIELDS)


def report_at(lon: float, lat: float) -> IncidentReported:
    ref = uuid.uuid4().hex[:16]
    return IncidentReported(incident_id=f"inc-{ref}", channel=Channel.HOTLINE, source_ref=ref,
                            category_code="010201", description="路灯不亮已经一周",
                            location=Location(coordinates=Coordinates(lon=lon, lat=lat)), reported_at=utcnow())


async def publish(js: Any, report: IncidentReported) -> None:
    event = build_event(INCIDENT_REPORTED, report, source="/test")
    await js.publish(INCIDENT_REPORTED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})


async def test_intake_locates_every_point_as_grid_does_and_still_does_after_a_restart_while_grid_is_down(
        start_grid, start_intake_on, db, nats_url):
    points = city_points(random.Random(20261202))
    async with start_grid() as grid:
        async with start_intake_on(SwitchableGrid(grid.app)) as (app, _):
            await eventually(lambda: app.state.registry.version is not None, timeout=120,
                             message="intake copied grid's registry")
            expected = [await grids_answer(grid, lon, lat) for lon, lat in points]
            mismatches = [(p, e, local(app, *p)) for p, e in zip(points, expected, strict=True)
                          if local(app, *p) != e]
            assert mismatches == [], mismatches[:5]
            assert {e[4] for e in expected} == {"coordinates", "nearest_town"}  # both rules were exercised
            version = app.state.registry.version
    # Grid is gone; a restarted intake locates from the copy in its own database, and incidents flow.
    async with start_intake_on(SwitchableGrid(down=True)) as (app, client), jetstream(nats_url) as js:
        assert app.state.registry.version == version
        async with app.state.runtime.sessions() as session:
            stored = await latest_row(session, GridRegistrySnapshot)
        assert stored is not None and stored.version == version and stored.grid_count == len(list(grids()))
        assert [local(app, *p) for p in points] == expected
        a = first_grid(TOWN_A)
        report = report_at(**inside(a))
        await publish(js, report)
        incident = await eventually(lambda: _accepted(client, report.incident_id), timeout=60)
        assert (incident["grid_code"], incident["town_code"], incident["located_by"]) == (a.code, TOWN_A,
                                                                                          "coordinates")


async def _accepted(client: httpx.AsyncClient, incident_id: str) -> dict | None:
    answer = await client.get(f"/api/v1/incidents/{incident_id}", headers=CITY_CENTRE)
    return answer.json() if answer.status_code == 200 and answer.json()["status"] == "accepted" else None


async def test_an_incident_waits_while_intake_has_no_copy_of_the_registry_and_is_located_once_grid_answers(
        start_grid, start_intake_on, nats_url):
    switch = SwitchableGrid(down=True)
    # The bus's default delivery limit applies: a wait for a dependency must never use it up.
    async with start_grid() as grid, start_intake_on(switch) as (app, client), \
            jetstream(nats_url) as js:
        assert app.state.registry.version is None  # a fresh install: never had a copy
        a = first_grid(TOWN_A)
        report = report_at(**inside(a))
        await publish(js, report)

        async def waiting() -> bool:
            # The bus retries a message whose dependency is away in place (shared/consuming.py), or, after a
            # stop, has it redelivered: either shows the incident was tried and is waiting.
            info = await js.consumer_info("MCC_INTAKE", "intake-reported")
            return app.state.runtime.bus.retrying("intake-reported") >= 1 or info.num_redelivered >= 1

        await eventually(waiting, timeout=60, message="the incident was tried and is waiting")
        assert (await client.get(f"/api/v1/incidents/{report.incident_id}", headers=CITY_CENTRE)).status_code == 404
        switch.app, switch.down = grid.app, False  # grid answers now
        incident = await eventually(lambda: _accepted(client, report.incident_id), timeout=120)
        assert incident["grid_code"] == a.code
        assert await stream_messages(js, "MCC_DLQ") == []


async def test_a_registry_import_reaches_intakes_copy_and_its_lookup(start_grid, start_intake_on):
    async with start_grid() as grid, start_intake_on(SwitchableGrid(grid.app)) as (app, _):
        await eventually(lambda: app.state.registry.version is not None, timeout=120)
        before = app.state.registry.version
        export = (await grid.client.get("/api/v1/admin/grids/export", params={"town_code": TOWN_A},
                                        headers=grid.admin)).json()
        # Move the boundary between two neighbouring grids west by half of the first.
        a, second = side_by_side(TOWN_A)
        x0, x1 = a.polygon[0][0], a.polygon[1][0]
        mid = (x0 + x1) / 2
        point = (x0 + (x1 - x0) * 0.75, inside(a)["lat"])
        assert local(app, *point)[0] == a.code
        for feature in export["features"]:
            if feature["properties"].get("code") in (a.code, second.code):
                ring = feature["geometry"]["coordinates"][0]
                feature["geometry"]["coordinates"] = [[[mid if x == x1 else x, y] for x, y in ring]]
        moved = await grid.client.post("/api/v1/admin/grids/import", json=export, headers=grid.admin)
        assert moved.status_code == 200, moved.text
        await eventually(lambda: app.state.registry.version == moved.json()["registry_version"], timeout=60,
                         message="intake followed grid's registry version")
        assert app.state.registry.version > before
        assert local(app, *point) == await grids_answer(grid, *point)
        assert local(app, *point)[0] == second.code
        async with app.state.runtime.sessions() as session:
            stored = await latest_row(session, GridRegistrySnapshot)
        assert stored.version == app.state.registry.version
        assert json.dumps(stored.grids).count(second.code) >= 1

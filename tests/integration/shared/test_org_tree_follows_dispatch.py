"""The organisation tree has one owner: dispatch serves it with its version, and intake (Open311's
agency_responsible, address places) and hotline (the console's unit names) follow it. A unit renamed or added in
dispatch reaches both at their next poll; while dispatch is away they serve the copy at hand, one started
while dispatch is down answers (units by code) and catches up once dispatch is back, and intake or hotline
restarted while dispatch is down starts from the tree it stored."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from services.dispatch import bootstrap as dispatch_bootstrap
from services.dispatch.adapters.orm import metadata as dispatch_metadata
from services.dispatch.config import DispatchSettings
from services.hotline import bootstrap as hotline_bootstrap
from services.hotline.adapters.orm import OrgTreeSnapshot as HotlineTree
from services.hotline.adapters.orm import metadata as hotline_metadata
from services.hotline.config import HotlineSettings
from services.intake import bootstrap as intake_bootstrap
from services.intake.adapters.orm import OrgTreeSnapshot as IntakeTree
from services.intake.adapters.orm import metadata as intake_metadata
from services.intake.config import IntakeSettings
from shared import orgchart
from shared.snapshot_store import TableStore
from tests.conftest import Database, _pg_exec
from tests.integration.hotline.support import token
from tests.integration.intake.conftest import GRID, FakeGrid, Intake
from tests.support.apps import make_runtime, running
from tests.support.dispatch import ADMIN, CC_TOWN, CHONGCHUAN, TERRITORIAL
from tests.support.geo import first_grid_point
from tests.support.polling import eventually


def stored_tree(source: Any, runtime: Any, table: Any) -> Any:
    """The service's follower of dispatch's tree, stored in its own database as its composition root builds it."""
    return orgchart.follower(source, poll_s=0.1, store=TableStore(runtime.uow, table, items="units",
                                                                   count="unit_count"))

pytestmark = pytest.mark.integration

V2 = "/open311/v2"
assert GRID.town_code == CC_TOWN  # intake's fake grid places every report in the town this test renames


class Switchable(httpx.AsyncBaseTransport):
    """Dispatch's app behind a switch: with no app, or while `down`, every call fails as a refused connection."""

    def __init__(self) -> None:
        self.app: Any = None
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down or self.app is None:
            raise httpx.ConnectError("dispatch is down", request=request)
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@pytest.fixture
def databases(db: Database, tmp_path) -> Iterator[Callable[[str], Database]]:
    """More databases on the test's backend, one per service (dispatch takes `db`)."""
    schemas: list[str] = []

    def another(name: str) -> Database:
        if db.backend == "sqlite":
            return Database("sqlite", f"sqlite:///{tmp_path / (name + '.db')}")
        schema = f"{name[0]}_{uuid.uuid4().hex[:12]}"
        _pg_exec(db.url, f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        return Database("postgres", db.url, schema)

    yield another
    for schema in schemas:
        _pg_exec(db.url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def services(db, databases, nats_url, redis_url):
    servers = {"nats_url": nats_url, "redis_url": redis_url}
    intake_db, hotline_db = databases("intake"), databases("hotline")  # kept across a restart

    @contextlib.asynccontextmanager
    async def dispatch() -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
        runtime = make_runtime("dispatch", DispatchSettings, dispatch_metadata, db=db, grid_url="http://127.0.0.1:9",
                               **servers)
        app = dispatch_bootstrap.build(runtime.settings, runtime=runtime, timers=False)
        async with running(app) as client:
            yield app, client

    @contextlib.asynccontextmanager
    async def intake(switch: Switchable) -> AsyncIterator[Intake]:
        runtime = make_runtime("intake", IntakeSettings, intake_metadata, db=intake_db, **servers)
        source = orgchart.dispatch_source("http://dispatch", transport=switch)
        app = intake_bootstrap.build(runtime.settings, runtime=runtime, locator=FakeGrid(),
                                     org=stored_tree(source, runtime, IntakeTree))
        try:
            async with running(app) as client:
                yield Intake(app, client)
        finally:
            await source.close()

    @contextlib.asynccontextmanager
    async def hotline(switch: Switchable) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
        runtime = make_runtime("hotline", HotlineSettings, hotline_metadata, db=hotline_db,
                               seed_knowledge=False, **servers)
        source = orgchart.dispatch_source("http://dispatch", transport=switch)
        org = stored_tree(source, runtime, HotlineTree)
        app = hotline_bootstrap.build(runtime=runtime, org=org)
        try:
            async with running(app) as client:
                yield app, client
        finally:
            await source.close()

    return dispatch, intake, hotline


async def put_unit(dispatch: httpx.AsyncClient, code: str, name: str, kind: str, parent: str) -> None:
    answer = await dispatch.put(f"/api/v1/admin/units/{code}", headers=ADMIN,
                                json={"name": name, "kind": kind, "parent_code": parent})
    assert answer.status_code == 200, answer.text


async def agency(intake: Intake, request_id: str) -> str | None:
    answer = await intake.client.get(f"{V2}/requests/{request_id}.json")
    return answer.json()[0]["agency_responsible"] if answer.status_code == 200 else None


async def test_a_unit_renamed_in_dispatch_reaches_intakes_open311_agency_even_after_an_outage(services):
    start_dispatch, start_intake, _ = services
    switch = Switchable()  # dispatch is not up yet
    async with start_intake(switch) as intake:
        org = intake.app.state.org
        await eventually(lambda: org.failing, message="intake asked dispatch and met nobody")
        assert org.value is None and intake.app.state.reference.unit_names.get(CC_TOWN, CC_TOWN) == CC_TOWN
        _, key = await intake.issue_key()
        point = first_grid_point()

        async def post(**where: Any) -> str:
            created = await intake.client.post(f"{V2}/requests.json", headers={
                "Content-Type": "application/x-www-form-urlencoded"}, content=urlencode({
                    "api_key": key, "service_code": TERRITORIAL, "description": "小区垃圾三天没有清运", **where}))
            assert created.status_code == 201, created.text  # intake takes reports while dispatch is away
            return created.json()[0]["service_request_id"]

        request_id = await post(lat=point["lat"], long=point["lon"])
        # Placed by its address alone: it waits for the tree instead of going unplaced (to the city's desk).
        by_address = await post(address_string="崇川区和平桥街道人民路18号")

        async with start_dispatch() as (dispatch_app, dispatch):
            switch.app = dispatch_app
            served = (await dispatch.get("/api/v1/org/tree")).json()
            await eventually(lambda: org.version == served["version"], timeout=30, message="intake followed")
            assert org.value.names[CC_TOWN] == "和平桥街道"  # the demo city dispatch loads by default
            # Dispatch routes both reports to the town (the one placed by its address once the tree came).
            for request in (request_id, by_address):
                await eventually(lambda r=request: _is(agency(intake, r), "和平桥街道"), timeout=60,
                                 message="Open311 names the town dispatch's tree names")

            await put_unit(dispatch, CC_TOWN, "和平桥新街道", "town", CHONGCHUAN)
            await eventually(lambda: _is(agency(intake, request_id), "和平桥新街道"), timeout=30,
                             message="Open311 names the renamed town")

            switch.down = True  # dispatch away: the copy at hand stays
            await put_unit(dispatch, CC_TOWN, "和平桥第三街道", "town", CHONGCHUAN)
            failing_since = org.version
            await eventually(lambda: org.failing, message="intake's follower met dispatch down")
            assert org.version == failing_since and await agency(intake, request_id) == "和平桥新街道"

            switch.down = False
            await eventually(lambda: _is(agency(intake, request_id), "和平桥第三街道"), timeout=30,
                             message="intake caught up once dispatch was back")
            assert not org.failing
            followed = org.version
    # Intake restarts while dispatch is down: it starts from the tree it stored, before dispatch is asked.
    switch.down = True
    async with start_intake(switch) as intake:
        assert intake.app.state.org.version == followed
        assert await agency(intake, request_id) == "和平桥第三街道"


async def _is(answer: Any, expected: str) -> bool:
    return await answer == expected


async def test_a_unit_added_or_renamed_in_dispatch_reaches_the_hotline_consoles_names_and_places(services):
    start_dispatch, _, start_hotline = services
    switch = Switchable()
    async with start_dispatch() as (dispatch_app, dispatch), start_hotline(switch) as (app, client):
        headers = token(app.state.runtime)
        address = {"address": "崇川区新设街道幸福路1号", "coordinates": ""}
        # Started while dispatch is down: the console answers, and names no place yet.
        await eventually(lambda: app.state.org.failing, message="hotline asked dispatch and met nobody")
        unplaced = await client.get("/console/locate", headers=headers, params=address)
        assert unplaced.status_code == 200 and 'id="unplaced"' in unplaced.text

        switch.app = dispatch_app
        await put_unit(dispatch, "320613198", "新设街道", "town", CHONGCHUAN)
        await put_unit(dispatch, CC_TOWN, "和平桥新街道", "town", CHONGCHUAN)

        edited = (await dispatch.get("/api/v1/org/version")).json()["version"]
        await eventually(lambda: app.state.org.version == edited, timeout=30, message="hotline followed both edits")
        page = (await client.get("/console/locate", headers=headers, params=address)).text
        assert 'id="located-by-address"' in page and "新设街道" in page and "崇川区" in page
        renamed = await client.get("/console/locate", headers=headers,
                                   params={"address": "崇川区和平桥新街道人民中路18号", "coordinates": ""})
        assert "和平桥新街道" in renamed.text and 'id="located-by-address"' in renamed.text
        assert app.state.hotline.grid.name(CC_TOWN) == "和平桥新街道"
    # Hotline restarts while dispatch is down: the console names units and places addresses from the tree it
    # stored, before dispatch is asked (before the store it named them by code and placed nothing).
    switch.down = True
    async with start_hotline(switch) as (app, client):
        assert app.state.org.version == edited
        assert app.state.hotline.grid.name(CC_TOWN) == "和平桥新街道"
        page = (await client.get("/console/locate", headers=token(app.state.runtime), params=address)).text
        assert 'id="located-by-address"' in page and "新设街道" in page

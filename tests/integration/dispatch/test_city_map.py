"""The city view's map is drawn from grid's registry: what grid holds is what the city sees, not the demo city."""

from __future__ import annotations

import re

import httpx
import pytest

from services.dispatch.adapters.grid_map import GridMap
from services.grid import bootstrap as grid_bootstrap
from services.grid.adapters.orm import metadata as grid_metadata
from services.grid.config import GridSettings
from shared import democity
from shared.events.v1 import Coordinates
from shared.roles import Role
from tests.conftest import Database
from tests.support.accounts import add_account, browser, sign_in
from tests.support.apps import make_runtime, running
from tests.support.dispatch import TZ_TOWN_A, accepted_incident
from tests.support.polling import eventually

pytestmark = pytest.mark.integration


class Switchable(httpx.AsyncBaseTransport):
    """The real grid app behind a switch: while `down`, every call fails as a refused connection would."""

    def __init__(self, app: object) -> None:
        self.app, self.down = app, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("grid is down", request=request)
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the map is HTTP and geometry; one backend is enough
async def test_the_city_map_draws_each_town_from_grids_registry_and_keeps_it_while_grid_is_away(
        start_dispatch, nats_url, redis_url, tmp_path):
    grid_db = Database("sqlite", f"sqlite:///{tmp_path / 'grid.db'}")
    grid_runtime = make_runtime("grid", GridSettings, grid_metadata, db=grid_db, nats_url=nats_url,
                                redis_url=redis_url, photo_dir=str(tmp_path / "photos"))
    grid_app = grid_bootstrap.build(grid_runtime.settings, runtime=grid_runtime)
    async with running(grid_app), start_dispatch() as dispatch:
        transport = Switchable(grid_app)
        grid_map = GridMap("http://grid", transport=transport, poll_s=0.1)
        await dispatch.app.state.grid_map.close()
        dispatch.app.state.grid_map = grid_map
        await grid_map.start(dispatch.runtime)
        await eventually(lambda: grid_map.version is not None, timeout=60,
                         message="the city map followed grid's registry in the background")
        await add_account(dispatch, login="city.duty", role=Role.CITY, unit="320600")
        async with browser(dispatch.app) as person:
            await sign_in(person, "city.duty")
            page = await person.get("/city")
            assert page.status_code == 200
            drawn = set(re.findall(r"<polygon[^>]*data-town=\"(\d+)\"", page.text))
            towns = {g.town_code for g in democity.grids()}
            assert drawn == towns  # every town grid holds, drawn from grid's snapshot
            assert dispatch.app.state.grid_map.version is not None

            # The order's detail on the town's board sketches the town from the same outlines, the point inside.
            grid = next(g for g in democity.grids() if g.town_code == TZ_TOWN_A and g.kind == "comprehensive")
            (x0, y0), (x1, y1) = grid.polygon[0], grid.polygon[2]
            event = accepted_incident(town=TZ_TOWN_A)
            point = Coordinates(lon=(x0 + x1) / 2, lat=(y0 + y1) / 2)
            location = event.data.location.model_copy(update={"coordinates": point})
            event = event.model_copy(update={"data": event.data.model_copy(update={"location": location})})
            order = await dispatch.incident(event)
            await add_account(dispatch, login="town.duty", role=Role.TOWN, unit=TZ_TOWN_A)
            async with browser(dispatch.app) as town:
                await sign_in(town, "town.duty")
                detail = await town.get(f"/board/orders/{order['number']}")
                assert detail.status_code == 200 and re.search(r"<polygon points=\"[\d., ]+\"", detail.text)

            # Grid goes away: the follower keeps polling, fails, and the map keeps the outlines it has.
            transport.down = True
            await eventually(lambda: grid_map.follower.failing, timeout=30, message="the follower met grid down")
            again = await person.get("/city/live")
            assert set(re.findall(r"<polygon[^>]*data-town=\"(\d+)\"", again.text)) == towns
        await grid_map.close()


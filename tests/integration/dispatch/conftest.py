from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.dispatch import bootstrap
from services.dispatch.adapters.orm import metadata
from services.dispatch.config import DispatchSettings
from services.dispatch.service import handlers
from tests.support.apps import make_runtime, running


class Dispatch:
    """A dispatch app running in the test's loop, with its runtime and a way to feed it incidents."""

    def __init__(self, app: Any, client: Any) -> None:
        self.app, self.client = app, client
        self.runtime = app.state.runtime
        self.holder: handlers.PolicyHolder = app.state.policy

    async def incident(self, event: Any) -> dict[str, Any]:
        """Feed an accepted incident straight to the handler (as the consumer would) and return its order."""
        await handlers.handle_incident_accepted(event, uow=self.runtime.uow(), holder=self.holder)
        async with self.runtime.uow() as uow:
            from sqlalchemy import select

            from services.dispatch.adapters.orm import WorkOrder
            row = (await uow.session.execute(select(WorkOrder).where(
                WorkOrder.incident_id == event.data.incident_id))).scalar_one()
            return {"id": row.id, "number": row.number, "state": row.state, "unit_code": row.unit_code}


@pytest.fixture
def start_dispatch(db, nats_url, redis_url):
    @contextlib.asynccontextmanager
    async def start(timers: bool = False, **overrides: Any) -> AsyncIterator[Dispatch]:
        # No grid unless a test starts one: the city map's follower must not find whatever listens on grid's port.
        overrides.setdefault("grid_url", "http://127.0.0.1:9")
        runtime = make_runtime("dispatch", DispatchSettings, metadata, db=db, nats_url=nats_url,
                               redis_url=redis_url, **overrides)
        app = bootstrap.build(runtime.settings, runtime=runtime, timers=timers)
        async with running(app) as client:
            yield Dispatch(app, client)

    return start

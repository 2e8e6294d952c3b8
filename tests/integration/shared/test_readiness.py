"""/readyz says whether a service can accept work: 503 only without its database; NATS down (events wait in the
outbox) and Redis down (for the services that use it) are reported as degraded, and a service that does not use
Redis does not mention it."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from services.dispatch import bootstrap as dispatch_bootstrap
from services.dispatch.adapters.orm import metadata as dispatch_metadata
from services.dispatch.config import DispatchSettings
from services.intake import bootstrap as intake_bootstrap
from services.intake.adapters.orm import metadata as intake_metadata
from services.intake.config import IntakeSettings
from tests.support.apps import make_runtime, running

pytestmark = pytest.mark.integration

NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def test_redis_down_leaves_dispatch_ready_but_degraded(db, nats_url):
    runtime = make_runtime("dispatch", DispatchSettings, dispatch_metadata, db=db, nats_url=nats_url,
                           redis_url=NO_REDIS)
    async with running(dispatch_bootstrap.build(runtime.settings, runtime=runtime, timers=False)) as client:
        ready = await client.get("/readyz")
        body = ready.json()
        assert ready.status_code == 200 and body["status"] == "degraded" and body["required"] == ["database"]
        assert body["checks"]["redis"].startswith("unreachable") and body["checks"]["database"] == "ok"


async def test_intake_does_not_use_redis_so_its_readiness_does_not_depend_on_it(db, nats_url):
    runtime = make_runtime("intake", IntakeSettings, intake_metadata, db=db, nats_url=nats_url,
                           redis_url=NO_REDIS)
    async with running(intake_bootstrap.build(runtime.settings, runtime=runtime)) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        assert set(ready.json()["checks"]) == {"database", "nats"}


async def test_without_its_database_a_service_is_not_ready(db, nats_url, redis_url, tmp_path):
    runtime = make_runtime("intake", IntakeSettings, intake_metadata, db=db, nats_url=nats_url, redis_url=redis_url)
    async with running(intake_bootstrap.build(runtime.settings, runtime=runtime)) as client:
        assert (await client.get("/readyz")).status_code == 200
        (tmp_path / "gone").write_text("")  # a file where the database's directory should be
        working, runtime.engine = runtime.engine, create_async_engine(
            f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'intake.db'}")
        try:  # a database that cannot be opened: what a service meets when its database is gone
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            assert ready.json()["checks"]["database"].startswith("unreachable")
        finally:
            await runtime.engine.dispose()
            runtime.engine = working

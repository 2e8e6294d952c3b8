"""Intake running in the test's loop against real NATS, Redis and the database matrix; the grid registry is a
fake that places every point in one grid of the demo city."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select

from services.intake import bootstrap
from services.intake.adapters.grid_client import GridLocation
from services.intake.adapters.orm import metadata
from services.intake.config import IntakeSettings
from shared import apikeys
from shared.auth import mint_token
from shared.roles import Role
from tests.support.apps import make_runtime, running
from tests.support.org import demo_org

SCHEMAS = Path(__file__).resolve().parents[3] / "services" / "intake" / "entrypoints" / "open311_schemas"
GRID = GridLocation("320613101001001", "320613101001", "320613101", "320613", "coordinates", False)
OTHER_COUNTY = "320681"


class FakeGrid:
    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def locate(self, lon: float, lat: float) -> GridLocation:
        self.calls.append((lon, lat))
        return GRID


class Intake:
    def __init__(self, app: Any, client: Any) -> None:
        self.app, self.client = app, client
        self.runtime = app.state.runtime
        secret = self.runtime.settings.token_secret
        self.city = {"Authorization": "Bearer " + mint_token(secret, subject="city-1", role=Role.CITY,
                                                             unit_code="320600")}
        self.county = {"Authorization": "Bearer " + mint_token(secret, subject="county-1", role=Role.COUNTY,
                                                               unit_code=GRID.county_code)}
        self.other_county = {"Authorization": "Bearer " + mint_token(secret, subject="county-2", role=Role.COUNTY,
                                                                     unit_code=OTHER_COUNTY)}
        self.town = {"Authorization": "Bearer " + mint_token(secret, subject="town-1", role=Role.TOWN,
                                                             unit_code=GRID.town_code)}

    async def issue_key(self, name: str = "南通百通", scope: str | None = None) -> tuple[str, str]:
        table = metadata.tables["api_key"]
        async with self.runtime.uow() as uow:
            record, plaintext = await apikeys.issue(uow.session, table, name=name, scope_unit=scope)
            await uow.commit()
        return record.id, plaintext

    async def revoke(self, key_id: str) -> None:
        async with self.runtime.uow() as uow:
            assert await apikeys.revoke(uow.session, metadata.tables["api_key"], key_id=key_id)
            await uow.commit()

    async def count(self, table_name: str) -> int:
        table = metadata.tables[table_name]
        async with self.runtime.sessions() as session:
            return (await session.execute(select(func.count()).select_from(table))).scalar_one()

    async def outbox_types(self) -> list[str]:
        table = metadata.tables["outbox"]
        async with self.runtime.sessions() as session:
            return [r.type for r in (await session.execute(select(table.c.type))).all()]


@pytest.fixture
def start_intake(db, nats_url, redis_url):
    @contextlib.asynccontextmanager
    async def start(locator: Any = None, **overrides: Any) -> AsyncIterator[Intake]:
        runtime = make_runtime("intake", IntakeSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                               **overrides)
        app = bootstrap.build(runtime.settings, runtime=runtime, locator=locator or FakeGrid(), org=demo_org())
        async with running(app) as client:
            yield Intake(app, client)

    return start


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def validate(instance: Any, name: str) -> None:
    jsonschema.validate(instance, schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

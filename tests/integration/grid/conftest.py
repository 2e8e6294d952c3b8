from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.grid import bootstrap
from services.grid.adapters.orm import metadata
from services.grid.config import GridSettings
from shared.auth import mint_token
from shared.democity import grids
from shared.roles import Role
from tests.support.apps import make_runtime, running

# Two towns of 崇川区 and one of 通州区, and a comprehensive grid of each (its lower-left corner is outside any
# dedicated grid, which sits in the middle of its host).
TOWN_A, TOWN_B, COUNTY_A = "320613101", "320613102", "320613"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def inside(grid: Any, fx: float = 0.1, fy: float = 0.1) -> dict[str, float]:
    (x0, y0), (x1, _), (_, y1) = grid.polygon[0], grid.polygon[1], grid.polygon[2]
    return {"lon": x0 + (x1 - x0) * fx, "lat": y0 + (y1 - y0) * fy}


def first_grid(town: str) -> Any:
    return next(g for g in grids() if g.town_code == town and g.kind == "comprehensive")


class Grid:
    """A grid app running in the test's loop, with an admin token and helpers to issue keys."""

    def __init__(self, app: Any, client: Any) -> None:
        self.app, self.client = app, client
        self.runtime = app.state.runtime
        secret = app.state.settings.token_secret
        self.admin = {"Authorization": "Bearer " + mint_token(secret, subject="admin", role=Role.ADMIN,
                                                               unit_code="320600")}
        self.staff = {"Authorization": "Bearer " + mint_token(secret, subject="town", role=Role.TOWN,
                                                               unit_code=TOWN_A)}

    async def key(self, scope_unit: str | None = None) -> dict[str, str]:
        """Headers carrying a fresh integration key with this scope."""
        issued = await self.client.post("/api/v1/admin/api-keys", json={"name": "网格通", "scope_unit": scope_unit},
                                        headers=self.admin)
        assert issued.status_code == 201, issued.text
        return {"X-Api-Key": issued.json()["key"]}

    async def photo(self, headers: dict[str, str], content: bytes = PNG) -> str:
        answer = await self.client.post("/api/v1/photos", files={"file": ("p.png", content, "image/png")},
                                        headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    async def report(self, headers: dict[str, str], *, town: str = TOWN_A, key: str | None = None,
                     **fields: Any) -> Any:
        body = {"category_code": "0301", "description": "河道漂浮垃圾", "reporter_id": "gw-001",
                **inside(first_grid(town)), **fields}
        return await self.client.post("/api/v1/events", json=body,
                                      headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex})


@pytest.fixture
def start_grid(db, nats_url, redis_url, tmp_path):
    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Grid]:
        overrides.setdefault("photo_dir", str(tmp_path / "photos"))
        overrides.setdefault("attachment_dir", str(tmp_path / "attachments"))
        runtime = make_runtime("grid", GridSettings, metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                               **overrides)
        app = bootstrap.build(runtime.settings, runtime=runtime)
        async with running(app) as client:
            yield Grid(app, client)

    return start

"""Grid's registry over HTTP: its version (polled) and its snapshot (fetched when the version moves)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from shared.messaging import TransientError


@dataclass(frozen=True)
class GridLocation:
    grid_code: str | None
    village_code: str | None
    town_code: str | None
    county_code: str | None
    located_by: str
    flagged: bool
    distance_m: float | None = None  # outside every grid: how far the nearest one is


@dataclass(frozen=True)
class RegistrySnapshot:
    version: int
    grids: list[dict[str, Any]]


class GridClient:
    """The grid service's registry feed; an unreachable grid is transient (the caller keeps what it has)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def _get(self, path: str) -> Any:
        try:
            response = await self._client.get(path)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TransientError(f"grid registry unavailable: {exc!r}") from exc

    async def registry_version(self) -> int:
        """The registry's current version (a few bytes: cheap to poll)."""
        return int((await self._get("/api/v1/registry/version"))["version"])

    async def registry_snapshot(self) -> RegistrySnapshot:
        """Every grid's codes, kind and polygon, with the version they belong to."""
        body = await self._get("/api/v1/registry/snapshot")
        return RegistrySnapshot(int(body["version"]), list(body["grids"]))

    async def close(self) -> None:
        await self._client.aclose()

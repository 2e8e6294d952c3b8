"""The grid registry over HTTP: coordinates → grid → village → town → county."""

from __future__ import annotations

from dataclasses import dataclass

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


class GridClient:
    def __init__(self, base_url: str, *, timeout: float = 3.0) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def locate(self, lon: float, lat: float) -> GridLocation:
        """Ask the grid service; an unreachable registry is transient (the message is retried later)."""
        try:
            response = await self._client.get("/api/v1/lookup", params={"lon": lon, "lat": lat})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TransientError(f"grid registry unavailable: {exc!r}") from exc
        body = response.json()
        return GridLocation(body.get("grid_code"), body.get("village_code"), body.get("town_code"),
                            body.get("county_code"), body.get("located_by", "coordinates"),
                            bool(body.get("flagged")))

    async def close(self) -> None:
        await self._client.aclose()

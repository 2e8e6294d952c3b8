"""Grid's lookup over HTTP, for the console's location preview (coordinates → grid → town → county)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from shared.orgchart import HeldChart, Places, UnitNames
from shared.web import public_url


class GridClient:
    """Asks grid's `/api/v1/lookup`; names and places come from the organisation tree hotline follows
    (dispatch's), codes alone before the first tree arrives."""

    def __init__(self, base_url: str | None = None, *, org: HeldChart, timeout_s: float = 3.0) -> None:
        self.base_url = (base_url or os.environ.get("MCC_HOTLINE_GRID_URL") or os.environ.get("MCC_INTAKE_GRID_URL")
                         or public_url("grid")).rstrip("/")
        self.timeout_s = timeout_s
        self._names, self._places = UnitNames(org), Places(org)

    def name(self, code: str | None) -> str | None:
        if code is None:
            return None
        return self._names.get(code, code)

    def place(self, address: str) -> dict[str, Any] | None:
        """Where an address points by its place names (county, town, village), as intake will place it; None
        when it names no place of the city."""
        match = self._places.match(address)
        if match is None or match.town_code is None and match.county_code is None:
            return None
        return {"county_name": self.name(match.county_code), "town_name": self.name(match.town_code),
                "village_name": self.name(match.village_code), "matched": "、".join(match.matched_names)}

    async def locate(self, lon: float, lat: float) -> dict[str, Any]:
        """The located units with names; `error` says so when grid cannot be asked (the form still submits)."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                answer = await client.get(f"{self.base_url}/api/v1/lookup", params={"lon": lon, "lat": lat})
        except httpx.HTTPError as exc:
            return {"error": f"网格服务暂不可用 ({type(exc).__name__})：提交后仍会定位"}
        if answer.status_code != 200:
            return {"error": f"定位失败 ({answer.status_code})"}
        found = answer.json()
        found.update({f"{k}_name": self.name(found.get(f"{k}_code")) for k in ("grid", "village", "town", "county")})
        found["outside"] = found.get("town_code") is None or bool(found.get("flagged"))
        return found

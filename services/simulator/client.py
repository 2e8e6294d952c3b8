"""The simulator's HTTP side: one pooled async client, tokens per unit, and a record of every call it made."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from shared.auth import mint_token

ROLE_OF_KIND = {"city": "city_dispatcher", "county": "county_dispatcher", "town": "town_dispatcher",
                "department": "department"}
RETRIED_STATUSES = {429, 502, 503, 504}  # 429: a rate limit says when to come back; it is never a refusal


@dataclass(frozen=True)
class Endpoints:
    hotline: str
    grid: str
    intake: str
    dispatch: str


@dataclass
class Call:
    op: str
    status: int  # 0: no answer (connection refused, timeout)
    latency_s: float
    at: float  # monotonic seconds since the run started


@dataclass
class Calls:
    """Every request the simulator sent: the report's errors and latency come from here."""

    started: float = field(default_factory=time.monotonic)
    items: list[Call] = field(default_factory=list)

    def add(self, op: str, status: int, latency_s: float) -> None:
        self.items.append(Call(op, status, latency_s, time.monotonic() - self.started))

    def errors(self) -> int:
        return sum(1 for c in self.items if c.status == 0 or c.status >= 500)


class Tokens:
    """Bearer tokens minted the way `mcc token` does, one per role and unit, for the length of the run."""

    def __init__(self, secret: str, city_code: str = "320600") -> None:
        self.secret = secret
        self.city_code = city_code
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    def headers(self, role: str, unit: str) -> dict[str, str]:
        key = (role, unit)
        if key not in self._cache:
            token = mint_token(self.secret, subject=f"sim-{role}-{unit}", role=role, unit_code=unit,
                               name="模拟", ttl=timedelta(hours=24))
            self._cache[key] = {"Authorization": f"Bearer {token}"}
        return self._cache[key]

    def city(self) -> dict[str, str]:
        return self.headers("city_dispatcher", self.city_code)

    def operator(self) -> dict[str, str]:
        return self.headers("operator", self.city_code)


class Http:
    """A pooled client that records each call and waits out a service that is down (never drops a request)."""

    def __init__(self, calls: Calls, *, concurrency: int = 64, timeout: float = 60.0,
                 give_up_after: float = 1800.0) -> None:
        self.calls = calls
        self.client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=concurrency,
                                                                             max_keepalive_connections=concurrency))
        self.give_up_after = give_up_after
        # at most `concurrency` requests inside httpx: its pool scans every queued request on each release, so a
        # backlog of thousands queued there costs the simulator quadratic CPU; a semaphore queues them for free
        self.gate = asyncio.Semaphore(concurrency)

    async def close(self) -> None:
        await self.client.aclose()

    async def request(self, op: str, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        """The answer, retried (same body, same Idempotency-Key) while there is none or a 502/503/504."""
        deadline = time.monotonic() + self.give_up_after
        pause = 0.2
        while True:
            async with self.gate:
                began = time.monotonic()
                try:
                    response = await self.client.request(method, url, **kwargs)
                except httpx.HTTPError:
                    self.calls.add(op, 0, time.monotonic() - began)
                    response = None
                else:
                    self.calls.add(op, response.status_code, time.monotonic() - began)
                    if response.status_code not in RETRIED_STATUSES:
                        return response
            if time.monotonic() > deadline:
                return response
            after = response.headers.get("Retry-After", "") if response is not None else ""
            await asyncio.sleep(float(after) if after.isdigit() else pause)
            pause = min(pause * 2, 5.0)

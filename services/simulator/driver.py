"""Plays the day against a running stack: sends each item on schedule (open loop) and acts as the people behind
it — operators, grid workers, apps, detectors, then the dispatchers who sign, return, extend and close, and the
operators who make the follow-up call."""

from __future__ import annotations

import asyncio
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.simulator.client import ROLE_OF_KIND, Calls, Endpoints, Http, Tokens
from services.simulator.generator import Item, Stream
from services.simulator.scenario import Scenario


@dataclass
class Outcome:
    """What became of one item, as the simulator saw it through the APIs."""

    key: str
    kind: str
    expect: str
    at_s: float
    status: int = 0  # the create call's HTTP status
    disposition: str | None = None  # the service's word for it: dispatched, transferred, held, ...
    source_ref: str | None = None
    incident_id: str | None = None
    order_id: str | None = None
    first_tier: str | None = None
    actions: list[str] = field(default_factory=list)
    problem: str | None = None
    lag_s: float = 0.0  # how late (real seconds) the create went out against its schedule: the open loop's health

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Progress:
    sent: int = 0
    accepted: int = 0
    orders: int = 0
    signed: int = 0
    closed: int = 0
    followed_up: int = 0


def _png(seed: int) -> bytes:
    """A tiny valid PNG, different per seed (the grid stores photos by content)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    pixel = bytes([0, seed % 256, (seed // 256) % 256, (seed // 65536) % 256])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0]))
            + chunk(b"IDAT", zlib.compress(pixel)) + chunk(b"IEND", b""))


class Driver:
    def __init__(self, stream: Stream, scenario: Scenario, *, endpoints: Endpoints, tokens: Tokens, scale: float,
                 intake_key: str, run_tag: str, tail_h: float = 24.0, discover_timeout_s: float = 3600.0,
                 on_progress: Callable[[Driver], None] | None = None) -> None:
        self.stream, self.scenario, self.ep, self.tokens = stream, scenario, endpoints, tokens
        self.scale, self.intake_key, self.tag, self.tail_h = scale, intake_key, run_tag, tail_h
        self.discover_timeout_s = discover_timeout_s
        self.on_progress = on_progress
        self.calls = Calls()
        self.http = Http(self.calls)
        self.outcomes: dict[str, Outcome] = {}
        self.progress = Progress()
        self.numbers: dict[str, asyncio.Future[str | None]] = {}
        self.units: dict[str, dict[str, Any]] = {}
        self.grid_key = ""
        self.submits: list[asyncio.Task[None]] = []
        self.discovery: list[float] = []  # seconds from an accepted create to its order being readable
        self.t0 = 0.0
        self.window_end = 0.0

    # -- time ------------------------------------------------------------------------------------------------
    def real(self, hours: float) -> float:
        """Real seconds for simulated hours (the dispatch service runs at the same time scale)."""
        return hours * 3600 / self.scale

    def sim_hours(self) -> float:
        return self.stream.start_h + (time.monotonic() - self.t0) * self.scale / 3600

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.window_end - time.monotonic())))
        if time.monotonic() >= self.window_end:
            raise asyncio.CancelledError  # the day (and its tail) is over: what is left open is backlog

    def _delay(self, spec: str, tier: str, z: float, *, urgent: bool = False) -> float:
        d = (self.scenario.sign_delay if spec == "sign" else self.scenario.handle_delay)[tier]
        factor = self.scenario.dispatch_shares.get("urgent_factor", 0.25) if urgent else 1.0
        return self.real(d.median * factor * math.exp(d.sigma * z))

    # -- the run ---------------------------------------------------------------------------------------------
    async def run(self) -> None:
        units = await self.http.request("units", "GET", f"{self.ep.dispatch}/api/v1/units",
                                        headers=self.tokens.city())
        self.units = {u["code"]: u for u in units.json()} if units is not None and units.status_code == 200 else {}
        key = await self.http.request("grid key", "POST", f"{self.ep.grid}/api/v1/admin/api-keys",
                                      json={"name": f"模拟网格通 {self.tag}"},
                                      headers=self.tokens.headers("admin", self.tokens.city_code))
        if key is None or key.status_code != 201:
            raise RuntimeError(f"could not get a grid API key: {key and key.text}")
        self.grid_key = key.json()["key"]
        for item in self.stream.items:
            if item.kind == "appeal":
                self.numbers[item.key] = asyncio.get_running_loop().create_future()
        self.t0 = time.monotonic()
        self.window_end = self.t0 + self.real(self.stream.duration_h + self.tail_h)
        tasks = []
        ticker = asyncio.create_task(self._tick())
        try:
            for item in self.stream.items:  # open loop: each goes out on time whatever the last one did
                due = self.t0 + self.real(item.at_s / 3600 - self.stream.start_h)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(self._life(item, due)))
            await asyncio.sleep(max(0.0, self.window_end - time.monotonic()))
            for task in tasks:  # the dispatchers stop; what is still open is the backlog
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # a create that went out is never abandoned: wait for its answer (Http retries while there is none)
            await asyncio.gather(*self.submits, return_exceptions=True)
        finally:
            ticker.cancel()
            if self.on_progress:
                self.on_progress(self)

    async def _tick(self) -> None:
        while self.on_progress:
            self.on_progress(self)
            await asyncio.sleep(2)

    async def _life(self, item: Item, due: float) -> None:
        out = self.outcomes[item.key] = Outcome(item.key, item.kind, item.expect, item.at_s,
                                                lag_s=round(time.monotonic() - due, 3))
        try:
            submit = asyncio.create_task(self._submit(item, out))
            self.submits.append(submit)
            await asyncio.shield(submit)
            if out.accepted and out.disposition == "dispatched" and item.plan:
                await self._handle(item, out)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - one item's surprise must not stop the day; it is reported
            out.problem = f"{type(exc).__name__}: {exc}"

    # -- arrivals --------------------------------------------------------------------------------------------
    async def _submit(self, item: Item, out: Outcome) -> None:
        try:
            await self._create(item, out)
        except Exception as exc:  # noqa: BLE001 - reported with the item
            out.problem = f"{type(exc).__name__}: {exc}"
        finally:  # a duplicate waiting for this appeal's number learns it, or that there is none
            future = self.numbers.get(item.key)
            if future is not None and not future.done():
                future.set_result(out.source_ref if out.disposition == "dispatched" else None)

    async def _create(self, item: Item, out: Outcome) -> None:
        self.progress.sent += 1
        idem = {"Idempotency-Key": f"{self.tag}-{item.key}"}
        if item.kind == "appeal":
            body = dict(item.body)
            if item.link_to:
                number = await asyncio.wait_for(asyncio.shield(self.numbers[item.link_to]), self.real(24) + 60)
                if number is None:  # the earlier appeal was not accepted: this call is a new matter
                    out.expect = "dispatched"
                else:
                    body["link_to_order"] = number
            r = await self.http.request("hotline create", "POST", f"{self.ep.hotline}/api/v1/appeals", json=body,
                                        headers={**self.tokens.operator(), **idem})
            if r is not None and r.status_code == 201:
                data = r.json()
                out.disposition, out.source_ref, out.incident_id = data["disposition"], data["number"], data.get(
                    "incident_id")
        elif item.kind == "grid_event":
            body = {**item.body, "id": f"{self.tag}-{item.body['id']}"}
            photos = []
            for n in range(item.photos):
                p = await self.http.request(
                    "grid photo", "POST", f"{self.ep.grid}/api/v1/photos",
                    files={"file": (f"{item.key}-{n}.png", _png(zlib.crc32(f"{self.tag}{item.key}{n}".encode())),
                                    "image/png")},
                    headers={"X-Api-Key": self.grid_key, "Idempotency-Key": f"{self.tag}-{item.key}-p{n}"})
                if p is not None and p.status_code == 201:
                    photos.append(p.json()["id"])
            if body["handling"] == "resolved_on_spot":
                body["after_photo_ids"], body["photo_ids"] = photos[-1:], photos[:-1]
            else:
                body["photo_ids"] = photos
            r = await self.http.request("grid event", "POST", f"{self.ep.grid}/api/v1/events", json=body,
                                        headers={"X-Api-Key": self.grid_key, **idem})
            if r is not None and r.status_code == 201:
                data = r.json()
                out.source_ref, out.incident_id = data["id"], data["incident_id"]
                out.disposition = "dispatched" if body["handling"] == "report" else "resolved_on_spot"
        elif item.kind == "open311":
            r = await self.http.request("open311 request", "POST", f"{self.ep.intake}/open311/v2/requests.json",
                                        data={**item.body, "api_key": self.intake_key}, headers=idem)
            if r is not None and r.status_code == 201:
                out.source_ref, out.disposition = r.json()[0]["service_request_id"], "dispatched"
        else:
            body = {**item.body, "detection_id": f"{self.tag}-{item.body['detection_id']}"}
            r = await self.http.request("detection", "POST", f"{self.ep.intake}/api/v1/detections", json=body,
                                        headers={"X-Api-Key": self.intake_key, **idem})
            if r is not None and r.status_code == 202:
                data = r.json()
                out.source_ref, out.incident_id = data["detection_id"], data["incident_id"]
                out.disposition = "dispatched" if data["route"] == "dispatch" else "held"
        out.status = 0 if r is None else r.status_code
        if out.accepted:
            self.progress.accepted += 1
        else:
            out.problem = f"create answered {out.status}: {'' if r is None else r.text[:300]}"

    # -- the people on the other end ----------------------------------------------------------------------------
    async def _order(self, out: Outcome) -> dict[str, Any] | None:
        if out.order_id:
            r = await self.http.request("order read", "GET", f"{self.ep.dispatch}/api/v1/orders/{out.order_id}",
                                        headers=self.tokens.city())
            return r.json() if r is not None and r.status_code == 200 else None
        r = await self.http.request("order find", "GET", f"{self.ep.dispatch}/api/v1/orders",
                                    params={"source_ref": out.source_ref, "view": "all"}, headers=self.tokens.city())
        items = r.json()["items"] if r is not None and r.status_code == 200 else []
        return items[0] if items else None

    async def _wait_for(self, out: Outcome, ready: Callable[[dict[str, Any]], bool], pause_h: float = 0.5,
                        ) -> dict[str, Any]:
        while True:
            order = await self._order(out)
            if order is not None and ready(order):
                return order
            await self._sleep(max(self.real(pause_h), 1.0))

    def _holder(self, order: dict[str, Any]) -> tuple[str, dict[str, str]]:
        unit = self.units.get(order["unit_code"], {})
        kind = unit.get("kind", order["tier"])
        return kind, self.tokens.headers(ROLE_OF_KIND.get(kind, "town_dispatcher"), order["unit_code"])

    def _upper(self, order: dict[str, Any]) -> dict[str, str] | None:
        """The command centre above the holder (a town's county; a county's or a county department's city)."""
        code = self.units.get(order["unit_code"], {}).get("parent_code")
        while code:
            unit = self.units.get(code, {})
            if unit.get("kind") in ("county", "city"):
                return self.tokens.headers(ROLE_OF_KIND[unit["kind"]], code)
            code = unit.get("parent_code")
        return None

    async def _act(self, out: Outcome, order: dict[str, Any], action: str, body: dict[str, Any],
                   headers: dict[str, str]) -> dict[str, Any] | None:
        r = await self.http.request(f"action {action}", "POST",
                                    f"{self.ep.dispatch}/api/v1/orders/{order['id']}/actions/{action}",
                                    json=body, headers=headers)
        if r is not None and r.status_code == 200:
            out.actions.append(action)
            return r.json()
        return None  # 409 (the timer moved it meanwhile) and the like: the caller looks again

    async def _sign(self, item: Item, out: Outcome, order: dict[str, Any] | None = None) -> dict[str, Any]:
        """Sign for it after the holder's delay; if the timers moved it meanwhile, the new holder does."""
        if order is None or order["state"] != "dispatched":
            order = await self._wait_for(out, lambda o: o["state"] == "dispatched")
        kind, headers = self._holder(order)
        await self._sleep(self._delay("sign", kind, item.plan["sign_z"], urgent=order.get("urgency") == "urgent"))
        while True:
            if (signed := await self._act(out, order, "sign", {}, headers)) is not None:
                self.progress.signed += 1
                return signed
            order = await self._wait_for(out, lambda o: o["state"] == "dispatched")  # escalated: its new holder
            _, headers = self._holder(order)

    async def _close(self, item: Item, out: Outcome, order: dict[str, Any], *, longer: float = 1.0) -> None:
        """Close it after the handling delay; if it was escalated meanwhile, the new holder signs and closes."""
        kind, headers = self._holder(order)
        await self._sleep(self._delay("handle", kind, item.plan["handle_z"], urgent=order.get("urgency") == "urgent")
                          * longer)
        body = {"result": "已现场核实并办结，已电话告知诉求人", "evidence": [f"sim://evidence/{item.key}.jpg"]}
        while True:
            if await self._act(out, order, "close", body, headers) is not None:
                self.progress.closed += 1
                return
            order = await self._wait_for(out, lambda o: o["state"] in ("signed", "in_progress", "dispatched"))
            if order["state"] == "dispatched":
                order = await self._sign(item, out)
            _, headers = self._holder(order)

    async def _handle(self, item: Item, out: Outcome) -> None:
        # look first after the pipeline's recent typical delay, not at once: fewer reads for the same answer
        began = time.monotonic()
        recent = sorted(self.discovery[-50:])
        pause = max(1.0, recent[len(recent) // 2] if recent else 1.0)
        await asyncio.sleep(pause)
        pause = 1.0
        while (order := await self._order(out)) is None:
            if time.monotonic() > began + self.discover_timeout_s:
                out.problem = "no order appeared"
                return
            await self._sleep(pause)  # a pipeline behind is waited for until the day is over
            pause = min(pause * 1.5, 5.0)
        self.discovery.append(time.monotonic() - began)
        out.order_id, out.first_tier = order["id"], order["tier"]
        self.progress.orders += 1
        plan = item.plan
        if plan["miss_sign"]:  # nobody at the first holder signs: wait until the timers move it up
            first = order["unit_code"]
            order = await self._wait_for(out, lambda o: o["unit_code"] != first or o["state"] != "dispatched",
                                         pause_h=1)
        order = await self._sign(item, out, order)
        longer = 1.0
        upper = self._upper(order)
        if order and upper and plan["outcome"] == "return":
            _, headers = self._holder(order)
            if await self._act(out, order, "return", {"reason": "经核实不属于本单位职责"}, headers):
                await self._sleep(self.real(1))  # the county looks at it within the hour and keeps it there
                order = await self._order(out)
                if order and order["state"] == "return_requested":
                    await self._act(out, order, "reject_return", {"reason": "经核实属于你单位职责，请继续办理"}, upper)
                elif order:
                    out.actions.append(f"return left it {order['state']}")
        elif order and upper and plan["outcome"] == "extension":
            _, headers = self._holder(order)
            if await self._act(out, order, "request_extension", {"extension": "3wd", "reason": "需协调多部门"},
                               headers):
                await self._sleep(self.real(1))
                order = await self._order(out)
                if order:
                    await self._act(out, order, "approve_extension", {"extension": "3wd"}, upper)
                longer = 2.0
        if plan["outcome"] != "close":  # after a return or an extension: as the order is now
            order = await self._wait_for(out, lambda o: o["state"] in ("signed", "in_progress", "dispatched"))
            if order["state"] == "dispatched":
                order = await self._sign(item, out, order)
        await self._close(item, out, order, longer=longer)
        follow_up = plan.get("follow_up")
        if item.kind != "appeal" or not follow_up:
            return
        await self._sleep(self.real(2))
        for _ in range(30):  # the hotline hears of the closing through its consumer: it may lag a little
            r = await self.http.request("follow-up", "POST",
                                        f"{self.ep.hotline}/api/v1/appeals/{out.source_ref}/followups",
                                        json=follow_up if follow_up["reached"] else {"reached": False},
                                        headers=self.tokens.operator())
            if r is not None and r.status_code in (200, 201):
                self.progress.followed_up += 1
                out.actions.append("follow_up")
                break
            await asyncio.sleep(1.0)
        if follow_up["reached"] and follow_up["satisfaction"] == "dissatisfied" and follow_up["unit_at_fault"]:
            await self._wait_for(out, lambda o: o["state"] == "dispatched", pause_h=1)  # 重办: the same unit again
            out.actions.append("reopened")
            await self._close(item, out, await self._sign(item, out))

"""The authorisation matrix: every role × every read and action endpoint of every service × a caller whose unit
lies outside the target's area (or does not fit the role, or is of another city); and for the endpoints an
integration key calls, every key scoped elsewhere. Outside its scope a caller gets 404 (as if the record did not
exist), or 403 where the endpoint's existence is public; a list never shows the foreign record.

Endpoints come from each app's OpenAPI: a new one fails `*_endpoints_are_all_classified` until it is given a case
here (or a reason to be public). One in-process app per service; the foreign records live in 崇川区 (320613), town
320613101.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from services.dispatch import bootstrap as dispatch_app
from services.dispatch.adapters.orm import EarlyWarning, WorkOrder
from services.dispatch.adapters.orm import metadata as dispatch_metadata
from services.dispatch.config import DispatchSettings
from services.dispatch.domain.lifecycle import Action
from services.dispatch.service import handlers as dispatch_handlers
from services.grid import bootstrap as grid_app
from services.grid.adapters.orm import metadata as grid_metadata
from services.grid.config import GridSettings
from services.hotline import bootstrap as hotline_app
from services.hotline.adapters.orm import metadata as hotline_metadata
from services.hotline.config import HotlineSettings
from services.intake import bootstrap as intake_app
from services.intake.adapters.orm import metadata as intake_metadata
from services.intake.config import IntakeSettings
from shared import apikeys
from shared.auth import mint_token
from shared.democity import grids
from shared.events.envelope import utcnow
from shared.roles import Role
from tests.integration.intake.conftest import FakeGrid
from tests.support.accounts import add_account
from tests.support.apps import make_runtime, running
from tests.support.dispatch import accepted_incident
from tests.support.polling import eventually

TARGET_TOWN, TARGET_COUNTY, CITY = "320613101", "320613", "320600"
# Callers outside the target: a neighbouring town and county, a department, admins below the city, and roles on
# units that do not fit them or belong to another city (refused at the door).
ROLE_CALLERS = [
    (Role.TOWN, "320613102"), (Role.TOWN, "320612101"), (Role.TOWN, CITY),
    (Role.COUNTY, "320612"), (Role.COUNTY, TARGET_TOWN),
    (Role.DEPARTMENT, "320613-water"), (Role.DEPARTMENT, TARGET_COUNTY),
    (Role.ADMIN, "320612"), (Role.ADMIN, "320613102"), (Role.ADMIN, "320612-water"),
    (Role.CITY, TARGET_COUNTY), (Role.CITY, "320500"),
    (Role.OPERATOR, "320612"), (Role.OPERATOR, "320500"),
]
KEY_SCOPES = ["320612", "320612101", "320613102"]  # another county, a town there, a neighbouring town
OUTSIDE = (403, 404)


@dataclass(frozen=True)
class Case:
    """How to call one endpoint at the foreign record, and what an outsider may get."""

    request: Callable[[dict[str, Any]], dict[str, Any]]  # ctx → {url, and json / data / params / files}
    expect: str = "outside"  # outside: 403/404; list: 200 or 403, never the record; masked: never the secrets
    credential: str = "role"  # role: a bearer token; key: an integration key


@dataclass
class Matrix:
    checked: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, label: str, response: Any, expect: str, secrets: list[str]) -> None:
        self.checked += 1
        shown = [s for s in secrets if s and s in response.text]
        ok = {"outside": response.status_code in OUTSIDE,
              "list": response.status_code in (200, 403, 404),
              "masked": response.status_code < 500}[expect] and not shown
        if not ok:
            self.failures.append(f"{label}: {response.status_code} {response.text[:160]!r} shows {shown}")


def bearer(secret: str, role: Role, unit: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(secret, subject=f"m-{role.value}@{unit}", role=role,
                                                    unit_code=unit)}


def classified(app: Any, cases: dict[tuple[str, str], Any], public: dict[tuple[str, str], str]) -> list[str]:
    """Endpoints of the app's OpenAPI that are neither a matrix case nor public with a reason."""
    found = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    return sorted(f"{m} {p}" for m, p in found - set(cases) - set(public))


async def run_matrix(client: Any, cases: dict[tuple[str, str], list[Case] | Case], ctx: dict[str, Any], *,
                     secret: str, keys: dict[str, str] | None = None) -> Matrix:
    matrix = Matrix()
    for (method, path), listed in cases.items():
        for case in listed if isinstance(listed, list) else [listed]:
            credentials = ([(f"key scoped to {s}", {"X-Api-Key": k}) for s, k in (keys or {}).items()]
                           if case.credential == "key" else
                           [(f"{role.value}@{unit}", bearer(secret, role, unit)) for role, unit in ROLE_CALLERS])
            for who, headers in credentials:
                spec = dict(case.request(ctx))
                url = spec.pop("url")
                if case.credential == "key" and "data" in spec:  # Open311 sends its key in the form
                    spec["data"] = {**spec["data"], "api_key": headers["X-Api-Key"]}
                extra = spec.pop("headers", {})
                response = await client.request(method, url, headers={**headers, **extra}, **spec)
                # A 404 may name the reference the caller sent; anything else about the record is a leak.
                secrets = [s for s in ctx["secrets"] if s not in str(response.request.url)]
                matrix.check(f"{method} {path} as {who}", response, case.expect, secrets)
    return matrix


def report(service: str, matrix: Matrix) -> None:
    print(f"\nauthorisation matrix, {service}: {matrix.checked} cases checked, {len(matrix.failures)} leaked")
    assert not matrix.failures, "\n".join(matrix.failures[:40])


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


# --- dispatch ------------------------------------------------------------------------------------------------

DISPATCH_PUBLIC = {
    ("GET", "/healthz"): "liveness", ("GET", "/readyz"): "readiness",
    ("GET", "/api/v1/categories"): "the category code table: reference data, no unit's records",
    ("GET", "/api/v1/units"): "the organisation tree is known to everyone in the city",
    ("GET", "/api/v1/org/version"): "a number: the organisation tree's version, polled by intake and hotline",
    ("GET", "/api/v1/org/tree"): "codes, names and kinds of the city's offices (what /units shows): the feed of "
                                 "intake and hotline, no person or order in it",
    ("GET", "/api/v1/rates/league"): "红黑榜 is published city-wide by design",
    ("GET", "/api/v1/me"): "answers only the caller's own claims",
    ("POST", "/api/v1/attachments"): "an upload names no order: it is attached only by a close the caller may make",
}


def dispatch_cases() -> dict[tuple[str, str], Any]:
    order = "/api/v1/orders/{order_ref}"
    account = "/api/v1/accounts/{account_id}"
    return {
        ("GET", order): Case(lambda c: {"url": f"/api/v1/orders/{c['number']}"}),
        ("GET", order + "/history"): Case(lambda c: {"url": f"/api/v1/orders/{c['number']}/history"}),
        ("GET", order + "/attachments/{attachment_id}"): Case(lambda c: {
            "url": f"/api/v1/orders/{c['number']}/attachments/{'a' * 64}"}),
        ("POST", order + "/actions/{action}"): [
            Case(lambda c, a=a: {"url": f"/api/v1/orders/{c['number']}/actions/{a.value}", "json": {}})
            for a in Action],
        ("GET", "/api/v1/orders"): Case(lambda c: {"url": "/api/v1/orders", "params": {"view": "all", "limit": 500}},
                                        "list"),
        ("GET", "/api/v1/access-log"): Case(lambda c: {"url": "/api/v1/access-log", "params": {"order": c["id"]}},
                                            "list"),
        ("GET", "/api/v1/rates"): Case(lambda c: {"url": "/api/v1/rates",
                                                  "params": {"unit": TARGET_TOWN, "period": "2026-11"}}),
        ("GET", "/api/v1/alerts"): Case(lambda c: {"url": "/api/v1/alerts"}, "list"),
        ("PUT", "/api/v1/admin/units/{code}"): Case(lambda c: {"url": f"/api/v1/admin/units/{TARGET_TOWN}", "json": {
            "name": "改名镇", "kind": "town", "parent_code": TARGET_COUNTY}}),
        ("DELETE", "/api/v1/admin/units/{code}"): Case(lambda c: {"url": f"/api/v1/admin/units/{TARGET_TOWN}"}),
        ("PUT", "/api/v1/admin/topology"): Case(lambda c: {"url": "/api/v1/admin/topology", "json": {
            "units": [{"code": CITY, "name": "南通市", "kind": "city"}]}}),
        ("GET", "/api/v1/accounts"): Case(lambda c: {"url": "/api/v1/accounts"}, "list"),
        ("POST", "/api/v1/accounts"): Case(lambda c: {"url": "/api/v1/accounts", "json": {
            "login": f"m{uuid.uuid4().hex[:8]}", "display_name": "外单位", "unit_code": TARGET_TOWN,
            "role": "town_dispatcher", "password": "correct-horse-battery"}}),
        ("GET", account): Case(lambda c: {"url": f"/api/v1/accounts/{c['account']}"}),
        ("PATCH", account): Case(lambda c: {"url": f"/api/v1/accounts/{c['account']}", "json": {"active": False}}),
        ("POST", account + "/password"): Case(lambda c: {"url": f"/api/v1/accounts/{c['account']}/password",
                                                         "json": {"password": "another-long-password"}}),
    }


async def test_dispatch_answers_every_outsider_as_if_the_record_did_not_exist(db, nats_url, redis_url):
    runtime = make_runtime("dispatch", DispatchSettings, dispatch_metadata, db=db, nats_url=nats_url,
                           redis_url=redis_url)
    app = dispatch_app.build(runtime.settings, runtime=runtime, timers=False)
    async with running(app) as client:
        assert classified(app, dispatch_cases(), DISPATCH_PUBLIC) == []
        event = accepted_incident(town=TARGET_TOWN)
        await dispatch_handlers.handle_incident_accepted(event, uow=runtime.uow(), holder=app.state.policy)
        async with runtime.uow() as uow:
            order = (await uow.session.execute(select(WorkOrder).where(
                WorkOrder.incident_id == event.data.incident_id))).scalar_one()
            uow.session.add(EarlyWarning(window_start=utcnow(), area_code=TARGET_TOWN, category_group="02",
                                         id="alert-matrix", county_code=TARGET_COUNTY, count=9, baseline=1.0,
                                         p_value=0.001, reason="MATRIX-ALERT", raised_at=utcnow()))
            await uow.commit()

        d = SimpleNamespace(runtime=runtime, holder=app.state.policy, app=app)  # what add_account needs
        account = await add_account(d, login="matrix.target", role="town_dispatcher", unit=TARGET_TOWN)
        ctx = {"number": order.number, "id": order.id, "account": account.id,
               "secrets": [order.number, order.id, "matrix.target", account.id, "MATRIX-ALERT"]}
        report("dispatch", await run_matrix(client, dispatch_cases(), ctx, secret=runtime.settings.token_secret))


# --- hotline -------------------------------------------------------------------------------------------------

HOTLINE_PUBLIC = {("GET", "/healthz"): "liveness", ("GET", "/readyz"): "readiness"}
PHONE = "13912340000"


def hotline_cases() -> dict[tuple[str, str], Any]:
    appeal = {"caller_phone": "13900001111", "appeal_type": "complaint", "category_code": "020101",
              "description": "外单位试图受理", "coordinates": {"lon": 120.87, "lat": 32.01}}
    article = "/api/v1/knowledge/articles/{article_id}"
    return {
        ("POST", "/api/v1/appeals"): Case(lambda c: {"url": "/api/v1/appeals", "json": appeal, "headers": idem()}),
        ("POST", "/api/v1/appeals/duplicates"): Case(lambda c: {"url": "/api/v1/appeals/duplicates", "json": {
            "caller_phone": PHONE, "category_code": "020101"}}),
        ("GET", "/api/v1/appeals/{appeal_ref}"): Case(lambda c: {"url": f"/api/v1/appeals/{c['appeal']}"}),
        ("POST", "/api/v1/appeals/{appeal_ref}/followups"): Case(lambda c: {
            "url": f"/api/v1/appeals/{c['appeal']}/followups", "json": {"reached": False}}),
        ("GET", "/api/v1/orders/{order_ref}/appeals"): Case(lambda c: {"url": "/api/v1/orders/GD20261122000001/appeals"}),
        ("GET", "/api/v1/callers/{phone}/appeals"): Case(lambda c: {"url": f"/api/v1/callers/{PHONE}/appeals"}),
        ("GET", "/api/v1/knowledge/search"): Case(lambda c: {"url": "/api/v1/knowledge/search",
                                                             "params": {"q": "MATRIX"}}),
        ("POST", "/api/v1/knowledge/articles"): Case(lambda c: {"url": "/api/v1/knowledge/articles", "json": {
            "title": "外单位", "body": "外单位写入"}}),
        ("GET", "/api/v1/knowledge/articles"): Case(lambda c: {"url": "/api/v1/knowledge/articles"}, "list"),
        ("GET", article): Case(lambda c: {"url": f"/api/v1/knowledge/articles/{c['article']}"}),
        ("PUT", article): Case(lambda c: {"url": f"/api/v1/knowledge/articles/{c['article']}", "json": {
            "title": "外单位", "body": "外单位改写"}}),
        ("DELETE", article): Case(lambda c: {"url": f"/api/v1/knowledge/articles/{c['article']}"}),
    }


async def test_the_hotline_lets_no_outsider_read_or_act(db, nats_url, redis_url):
    runtime = make_runtime("hotline", HotlineSettings, hotline_metadata, db=db, nats_url=nats_url,
                           redis_url=redis_url)
    app = hotline_app.build(runtime=runtime)
    async with running(app) as client:
        assert classified(app, hotline_cases(), HOTLINE_PUBLIC) == []
        operator = bearer(runtime.settings.token_secret, Role.OPERATOR, CITY)
        created = await client.post("/api/v1/appeals", headers={**operator, **idem()}, json={
            "caller_phone": PHONE, "appeal_type": "complaint", "category_code": "020101",
            "description": "MATRIX-APPEAL 小区垃圾三天没人清运", "coordinates": {"lon": 120.87, "lat": 32.01}})
        assert created.status_code == 201, created.text
        article = await client.post("/api/v1/knowledge/articles", headers=operator, json={
            "title": "MATRIX-ARTICLE", "body": "MATRIX-ARTICLE 正文"})
        assert article.status_code == 201, article.text
        ctx = {"appeal": created.json()["number"], "article": article.json()["id"],
               "secrets": ["MATRIX-APPEAL", "MATRIX-ARTICLE", created.json()["number"], PHONE]}
        report("hotline", await run_matrix(client, hotline_cases(), ctx, secret=runtime.settings.token_secret))


# --- intake --------------------------------------------------------------------------------------------------

INTAKE_PUBLIC = {
    ("GET", "/healthz"): "liveness", ("GET", "/readyz"): "readiness",
    ("GET", "/open311/discovery.{fmt}"): "GeoReport v2: discovery is public",
    ("GET", "/open311/v2/services.{fmt}"): "GeoReport v2: the service list is public",
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): "GeoReport v2: service definitions are public",
    ("GET", "/open311/v2/requests.{fmt}"): "GeoReport v2: requests are public by the spec (no submitter data)",
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): "GeoReport v2: a request is public by the spec",
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): "GeoReport v2: a token maps to its public request id",
}
DETECTION = {"detector": "satellite-rs", "confidence": 0.4, "evidence_url": "https://rs.example.cn/t.png",
             "category_code": "020102", "coordinates": {"lon": 120.21, "lat": 31.71}}


def intake_cases() -> dict[tuple[str, str], Any]:
    incident = "/api/v1/incidents/{incident_id}"
    return {
        ("GET", incident): Case(lambda c: {"url": f"/api/v1/incidents/{c['incident']}"}),
        ("GET", "/api/v1/incidents"): [Case(lambda c, s=s: {"url": "/api/v1/incidents", "params": {"status": s}},
                                            "list") for s in ("held", "rejected")],
        ("POST", incident + "/approve"): Case(lambda c: {"url": f"/api/v1/incidents/{c['incident']}/approve"}),
        ("POST", incident + "/reject"): Case(lambda c: {"url": f"/api/v1/incidents/{c['incident']}/reject",
                                                        "json": {"reason": "外单位驳回"}}),
        ("POST", "/api/v1/detections"): Case(lambda c: {"url": "/api/v1/detections", "json": DETECTION,
                                                        "headers": idem()}, credential="key"),
        ("POST", "/open311/v2/requests.{fmt}"): Case(lambda c: {"url": "/open311/v2/requests.json", "data": {
            "service_code": "010201", "lat": "31.71", "long": "120.21", "description": "外单位报送"}},
            credential="key"),
    }


async def issue_key(runtime: Any, table: Any, scope: str | None) -> str:
    async with runtime.uow() as uow:
        _, plaintext = await apikeys.issue(uow.session, table, name=f"matrix {scope}", scope_unit=scope)
        await uow.commit()
    return plaintext


async def test_intake_answers_every_outsider_as_if_the_incident_did_not_exist(db, nats_url, redis_url):
    runtime = make_runtime("intake", IntakeSettings, intake_metadata, db=db, nats_url=nats_url,
                           redis_url=redis_url, detection_min_confidence=0.7)
    app = intake_app.build(runtime.settings, runtime=runtime, locator=FakeGrid())
    async with running(app) as client:
        assert classified(app, intake_cases(), INTAKE_PUBLIC) == []
        table = intake_metadata.tables["api_key"]
        held = await client.post("/api/v1/detections", json={**DETECTION, "description": "MATRIX-INCIDENT"},
                                 headers={"X-Api-Key": await issue_key(runtime, table, None), **idem()})
        incident = held.json()["incident_id"]
        city = bearer(runtime.settings.token_secret, Role.CITY, CITY)

        async def recorded() -> bool:
            return (await client.get(f"/api/v1/incidents/{incident}", headers=city)).status_code == 200

        await eventually(recorded)
        keys = {scope: await issue_key(runtime, table, scope) for scope in KEY_SCOPES}
        ctx = {"incident": incident, "secrets": [incident, "MATRIX-INCIDENT"]}
        report("intake", await run_matrix(client, intake_cases(), ctx, secret=runtime.settings.token_secret,
                                          keys=keys))


# --- grid ----------------------------------------------------------------------------------------------------

GRID_PUBLIC = {
    ("GET", "/healthz"): "liveness", ("GET", "/readyz"): "readiness",
    ("GET", "/api/v1/lookup"): "where a point lies: the registry's geography is public",
    ("GET", "/api/v1/grids"): "the grid registry (codes, names, shapes) is public; members are not listed here",
    ("GET", "/api/v1/registry/version"): "a number and a count (see docs/grid.md: why the feed needs no key)",
    ("GET", "/api/v1/registry/snapshot"): "codes and polygons only, what /grids already shows (docs/grid.md)",
    ("POST", "/api/v1/photos"): "an upload names no place: it is the key's own photo until an event uses it",
}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"MATRIX-PHOTO"
PERIOD = {"from": "2026-01-01T00:00:00+08:00", "to": "2099-01-01T00:00:00+08:00"}


def inside(grid: Any) -> dict[str, float]:
    (x0, y0), (x1, _), (_, y1) = grid.polygon[0], grid.polygon[1], grid.polygon[2]
    return {"lon": x0 + (x1 - x0) * 0.1, "lat": y0 + (y1 - y0) * 0.1}


def grid_cases() -> dict[tuple[str, str], Any]:
    event = "/api/v1/events/{event_id}"
    patrol = "/api/v1/patrols/{patrol_id}"
    key_id = "/api/v1/admin/api-keys/{key_id}"
    report_body = {"category_code": "0301", "description": "外单位上报", "reporter_id": "gw-x"}
    return {
        ("GET", "/api/v1/grids/{code}"): Case(lambda c: {"url": f"/api/v1/grids/{c['grid'].code}"}, "masked"),
        ("GET", "/api/v1/admin/grids/export"): Case(lambda c: {"url": "/api/v1/admin/grids/export",
                                                               "params": {"town_code": TARGET_TOWN}}),
        ("POST", "/api/v1/admin/grids/import"): Case(lambda c: {"url": "/api/v1/admin/grids/import", "json": {
            "type": "FeatureCollection", "features": []}}),
        ("GET", "/api/v1/admin/api-keys"): Case(lambda c: {"url": "/api/v1/admin/api-keys"}, "list"),
        ("POST", "/api/v1/admin/api-keys"): Case(lambda c: {"url": "/api/v1/admin/api-keys", "json": {
            "name": "外单位", "scope_unit": None}}),
        ("DELETE", key_id): Case(lambda c: {"url": f"/api/v1/admin/api-keys/{c['key_id']}"}),
        ("PUT", key_id + "/webhook"): Case(lambda c: {"url": f"/api/v1/admin/api-keys/{c['key_id']}/webhook",
                                                      "json": {"url": "https://hooks.example.cn/x"}}),
        ("DELETE", key_id + "/webhook"): Case(lambda c: {"url": f"/api/v1/admin/api-keys/{c['key_id']}/webhook"}),
        ("GET", "/api/v1/photos/{photo_id}"): Case(lambda c: {"url": f"/api/v1/photos/{c['photo']}"},
                                                   credential="key"),
        ("POST", "/api/v1/events"): Case(lambda c: {"url": "/api/v1/events", "headers": idem(), "json": {
            **report_body, **inside(c["grid"])}}, credential="key"),
        ("GET", "/api/v1/events"): Case(lambda c: {"url": "/api/v1/events"}, "list", credential="key"),
        ("POST", "/api/v1/events/batch"): Case(lambda c: {"url": "/api/v1/events/batch", "headers": idem(), "json": {
            "items": [{**report_body, **inside(c["grid"]), "client_id": uuid.uuid4().hex}]}}, "list",
            credential="key"),
        ("GET", "/api/v1/events/summary"): [
            Case(lambda c: {"url": "/api/v1/events/summary", "params": {"town_code": TARGET_TOWN}}),
            Case(lambda c: {"url": "/api/v1/events/summary", "params": {"county_code": TARGET_COUNTY}})],
        ("GET", event): Case(lambda c: {"url": f"/api/v1/events/{c['event']}"}, credential="key"),
        ("POST", event + "/resolve"): Case(lambda c: {"url": f"/api/v1/events/{c['event']}/resolve", "json": {
            "after_photo_ids": [c["photo"]], "note": "外单位"}}, credential="key"),
        ("POST", event + "/escalate"): Case(lambda c: {"url": f"/api/v1/events/{c['event']}/escalate"},
                                            credential="key"),
        ("POST", "/api/v1/patrols"): Case(lambda c: {"url": "/api/v1/patrols", "headers": idem(), "json": {
            "worker_id": "gw-x", "grid_code": c["grid"].code}}, credential="key"),
        ("POST", patrol + "/points"): Case(lambda c: {"url": f"/api/v1/patrols/{c['patrol']}/points", "json": {
            "points": [{**inside(c["grid"]), "at": utcnow().isoformat()}]}}, credential="key"),
        ("POST", patrol + "/end"): Case(lambda c: {"url": f"/api/v1/patrols/{c['patrol']}/end", "json": {}},
                                        credential="key"),
        ("GET", "/api/v1/patrols/coverage"): [
            Case(lambda c: {"url": "/api/v1/patrols/coverage", "params": {**PERIOD, "town_code": TARGET_TOWN}}),
            Case(lambda c: {"url": "/api/v1/patrols/coverage", "params": {**PERIOD, "county_code": TARGET_COUNTY}}),
            Case(lambda c: {"url": "/api/v1/patrols/coverage", "params": {**PERIOD, "grid_code": c["grid"].code}},
                 "list"),
            Case(lambda c: {"url": "/api/v1/patrols/coverage", "params": PERIOD}, "list")],
    }


async def test_grid_answers_every_outsider_and_every_key_scoped_elsewhere_as_if_nothing_were_there(
        db, nats_url, redis_url, tmp_path):
    runtime = make_runtime("grid", GridSettings, grid_metadata, db=db, nats_url=nats_url, redis_url=redis_url,
                           photo_dir=str(tmp_path / "photos"))
    app = grid_app.build(runtime.settings, runtime=runtime)
    async with running(app) as client:
        assert classified(app, grid_cases(), GRID_PUBLIC) == []
        admin = bearer(runtime.settings.token_secret, Role.ADMIN, CITY)
        issued = await client.post("/api/v1/admin/api-keys", headers=admin, json={"name": "目标", "scope_unit": TARGET_TOWN})
        own = {"X-Api-Key": issued.json()["key"]}
        grid = next(g for g in grids() if g.town_code == TARGET_TOWN and g.kind == "comprehensive")
        photo = await client.post("/api/v1/photos", headers={**own, **idem()},
                                  files={"file": ("p.jpg", JPEG, "image/jpeg")})
        event = await client.post("/api/v1/events", headers={**own, **idem()}, json={
            "category_code": "0301", "description": "MATRIX-EVENT", "reporter_id": "gw-1",
            "photo_ids": [photo.json()["id"]], **inside(grid)})
        patrol = await client.post("/api/v1/patrols", headers={**own, **idem()},
                                   json={"worker_id": "MATRIX-WORKER", "grid_code": grid.code})
        assert event.status_code == patrol.status_code == 201, (event.text, patrol.text)
        keys = {}
        for scope in KEY_SCOPES:
            keys[scope] = (await client.post("/api/v1/admin/api-keys", headers=admin,
                                             json={"name": "外单位", "scope_unit": scope})).json()["key"]
        ctx = {"grid": grid, "photo": photo.json()["id"], "event": event.json()["id"], "patrol": patrol.json()["id"],
               "key_id": issued.json()["id"],
               "secrets": ["MATRIX-EVENT", "MATRIX-WORKER", "MATRIX-PHOTO", event.json()["id"], issued.json()["key"],
                           *(m.phone for m in grid.members)]}
        report("grid", await run_matrix(client, grid_cases(), ctx, secret=runtime.settings.token_secret, keys=keys))


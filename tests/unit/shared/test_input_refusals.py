"""Every documented operation refuses, before its own parsing, what no route can use: unknown query parameters
(named), NUL characters in any text, integers beyond 64 bits. Routes that parse their own query opt out of the
first only; pages are not checked."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Form, Query

from shared.http import create_app
from shared.inputs import OWN_QUERY

api = APIRouter(prefix="/api")
spec_router = APIRouter(prefix="/spec", dependencies=[OWN_QUERY])
pages = APIRouter()


@api.get("/grids")
async def grids(town_code: str | None = None, offset: int = Query(0, ge=0)) -> dict:
    return {"town_code": town_code, "offset": offset}


@api.get("/items/{item_id}")
async def item(item_id: str) -> dict:
    return {"id": item_id}


@api.post("/things")
async def things(body: dict) -> dict:
    return body


@api.post("/form")
async def form(name: str = Form()) -> dict:
    return {"name": name}


@spec_router.get("/requests")
async def spec_requests() -> dict:
    return {}


@pages.get("/page", include_in_schema=False)
async def page() -> dict:
    return {}


async def _ready() -> dict[str, str]:
    return {}


def _client() -> httpx.AsyncClient:
    app = create_app(service="t", title="t", routers=[api, spec_router, pages], readiness=_ready)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def _only(answer: httpx.Response) -> dict:
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    return error


async def test_an_unknown_query_parameter_is_refused_by_name_instead_of_ignored():
    async with _client() as client:
        error = _only(await client.get("/api/grids", params={"town": "320613102"}))
        assert (error["field"], error["in"], error["type"]) == ("town", "query", "unknown_parameter")
        assert "town_code" in error["message"]  # says what it could have been
        assert (await client.get("/api/grids", params={"town_code": "320613102"})).json()["town_code"] == "320613102"
        assert (await client.get("/spec/requests", params={"jurisdiction_id": "x"})).status_code == 200
        assert (await client.get("/page", params={"token": "x"})).status_code == 200


async def test_a_nul_character_in_any_text_is_refused_naming_the_field():
    async with _client() as client:
        assert _only(await client.get("/api/grids", params={"town_code": "32\x00"}))["field"] == "town_code"
        assert _only(await client.get("/api/items/a%00b"))["in"] == "path"
        error = _only(await client.post("/api/things", json={"a": [{"description": "垃圾\x00"}]}))
        assert (error["field"], error["in"], error["type"]) == ("a.0.description", "body", "nul_character")
        assert _only(await client.post("/api/form", data={"name": "x\x00"}))["in"] == "form"
        assert _only(await client.get("/spec/requests", params={"q": "\x00"}))["type"] == "nul_character"
        assert (await client.post("/api/things", json={"a": "垃圾"})).status_code == 200


async def test_integers_beyond_64_bits_are_refused_not_passed_to_the_database():
    async with _client() as client:
        error = _only(await client.get("/api/grids", params={"offset": str(2**64)}))
        assert (error["field"], error["type"]) == ("offset", "out_of_range")
        assert _only(await client.post("/api/things", json={"n": -(2**70)}))["field"] == "n"
        assert (await client.get("/api/grids", params={"offset": str(2**63 - 1)})).status_code == 200
        assert (await client.get("/api/items/" + "9" * 30)).status_code == 200  # a string that looks numeric

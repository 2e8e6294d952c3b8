"""A use case's refusals (shared.errors) become the documented answers in every service's app, uncaught."""

from __future__ import annotations

import httpx
from fastapi import APIRouter

from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.http import create_app
from shared.idempotency import IdempotencyConflict

router = APIRouter()
REFUSALS = {
    "invalid": Invalid("scope_unit", "不是本市的区县或镇街", type="unknown_unit"),
    "many": Invalid.of([{"field": "a", "in": "body", "message": "x", "type": "missing"},
                        {"field": "b", "in": "query", "message": "y", "type": "value_error"}]),
    "large": Invalid("file", "too big", type="too_large", where="form", status=413),
    "missing": NotFound("no grid 1"),
    "forbidden": Forbidden("outside this key's scope"),
    "conflict": Conflict("already closed", current_state="closed", allowed=["follow_up", "archive"]),
    "plain-conflict": Conflict("patrol p has ended"),
    "reused-key": IdempotencyConflict("Idempotency-Key 'k' was already used for a different request"),
}


@router.get("/refuse/{name}")
async def refuse(name: str) -> None:
    raise REFUSALS[name]


async def _readiness() -> dict[str, str]:
    return {}


async def _answers() -> dict[str, tuple[int, object]]:
    app = create_app(service="t", title="t", routers=[router], readiness=_readiness)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return {name: ((r := await client.get(f"/refuse/{name}")).status_code, r.json()) for name in REFUSALS}


async def test_each_refusal_answers_its_status_in_the_documented_shape():
    answers = await _answers()
    assert answers["invalid"] == (422, {"detail": [{"field": "scope_unit", "in": "body", "type": "unknown_unit",
                                                    "message": "不是本市的区县或镇街"}], "code": "invalid_input"})
    assert answers["many"][0] == 422 and [e["field"] for e in answers["many"][1]["detail"]] == ["a", "b"]
    assert answers["large"] == (413, {"detail": [{"field": "file", "in": "form", "type": "too_large",
                                                  "message": "too big"}], "code": "invalid_input"})
    assert answers["missing"] == (404, {"detail": "no grid 1", "code": "not_found"})
    assert answers["forbidden"] == (403, {"detail": "outside this key's scope", "code": "forbidden"})
    assert answers["conflict"] == (409, {"detail": "already closed", "code": "conflict", "current_state": "closed",
                                         "allowed_actions": ["follow_up", "archive"]})
    assert answers["plain-conflict"] == (409, {"detail": "patrol p has ended", "code": "conflict"})
    status, body = answers["reused-key"]
    assert status == 422 and body["detail"][0]["field"] == "Idempotency-Key" and body["detail"][0]["type"] == "conflict"


async def test_field_errors_and_plain_http_errors_speak_chinese_with_a_stable_code():
    from fastapi import Query

    typed = APIRouter()

    @typed.get("/n")
    async def n(n: int = Query(..., ge=1), name: str = Query(..., max_length=3)) -> dict:
        return {}

    app = create_app(service="t", title="t", routers=[typed], readiness=_readiness)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        bad = await client.get("/n", params={"n": "0", "name": "四个汉字"})
        missing = await client.get("/nowhere")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
    assert {(e["field"], e["type"], e["message"]) for e in bad.json()["detail"]} == {
        ("n", "greater_than_equal", "不能小于 1"), ("name", "string_too_long", "不能超过 3 个字符")}
    assert (missing.status_code, missing.json()) == (404, {"detail": "未找到", "code": "not_found"})

"""The cookie contract every service shares: the session token in `mcc_session`, CSRF double-submit on
cookie-authenticated unsafe requests (bearer and API-key requests exempt), sliding renewal checked in Redis."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import APIRouter, Form
from redis.asyncio import Redis

from shared import sessions
from shared.auth import CurrentPrincipal, mint_token
from shared.http import create_app
from shared.settings import ServiceSettings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"

router = APIRouter()


@router.get("/whoami")
async def whoami(principal: CurrentPrincipal) -> dict[str, str | None]:
    return {"subject": principal.subject, "name": principal.name, "kind": principal.kind}


@router.post("/act")
async def act(principal: CurrentPrincipal) -> dict[str, str]:
    return {"by": principal.subject}


@router.post("/form")
async def form(principal: CurrentPrincipal, note: Annotated[str, Form()]) -> dict[str, str]:
    return {"by": principal.subject, "note": note}


async def _no_checks() -> dict[str, str]:
    return {}


@pytest.fixture
async def app(redis_url):
    app = create_app(service="test", title="t", routers=[router], readiness=_no_checks)
    app.state.settings = ServiceSettings(redis_url=redis_url, token_secret=SECRET, session_ttl_s=900)
    app.state.token_secret = SECRET
    redis = Redis.from_url(redis_url)
    app.state.runtime = SimpleNamespace(redis=redis)
    yield app
    await redis.aclose()


def session_token(*, sid: str | None = "s1", ttl_s: int = 900, auth_time: int | None = None) -> str:
    extra = {"auth_time": auth_time or int(time.time())} | ({"sid": sid} if sid else {})
    return mint_token(SECRET, subject="acc-1", role="town_dispatcher", unit_code="320612101", name="张三",
                      ttl=timedelta(seconds=ttl_s), kind="session", extra=extra)


def client(app, **cookies: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", cookies=cookies)


async def test_a_session_cookie_authenticates_like_a_bearer_token(app):
    async with client(app, mcc_session=session_token()) as c:
        response = await c.get("/whoami")
    assert response.json() == {"subject": "acc-1", "name": "张三", "kind": "session"}


async def test_a_bad_authorization_header_never_falls_back_to_the_cookie(app):
    async with client(app, mcc_session=session_token()) as c:
        assert (await c.get("/whoami", headers={"Authorization": "Bearer nonsense"})).status_code == 401
        assert (await c.get("/whoami", headers={"Authorization": "Basic eDp5"})).status_code == 401


async def test_a_form_post_without_the_csrf_token_is_refused(app):
    async with client(app, mcc_session=session_token(), mcc_csrf="tok-123") as c:
        refused = await c.post("/form", data={"note": "签收"})
        wrong = await c.post("/form", data={"note": "签收", "csrf_token": "tok-999"})
        by_field = await c.post("/form", data={"note": "签收", "csrf_token": "tok-123"})
        by_header = await c.post("/form", data={"note": "签收"}, headers={"X-CSRF-Token": "tok-123"})
        json_without = await c.post("/act", json={})
    assert refused.status_code == 403 and refused.json()["detail"][0]["field"] == "csrf_token"
    assert "刷新" in refused.json()["detail"][0]["message"]
    assert wrong.status_code == 403 and json_without.status_code == 403
    assert by_field.json() == {"by": "acc-1", "note": "签收"}  # the route still reads the replayed form
    assert by_header.status_code == 200


async def test_without_the_csrf_cookie_even_a_matching_looking_token_is_refused(app):
    async with client(app, mcc_session=session_token()) as c:
        assert (await c.post("/act", headers={"X-CSRF-Token": ""})).status_code == 403
        assert (await c.post("/form", data={"note": "x", "csrf_token": ""})).status_code == 403


async def test_bearer_and_api_key_requests_need_no_csrf_token_even_with_a_session_cookie(app):
    bearer = mint_token(SECRET, subject="script-1", role="admin", unit_code="320600")
    async with client(app, mcc_session=session_token()) as c:
        by_bearer = await c.post("/act", headers={"Authorization": f"Bearer {bearer}"})
        by_key = await c.post("/act", headers={"X-API-Key": "mcc_000000000000_x"})
    async with client(app) as c:
        plain = await c.post("/form", data={"note": "x"}, headers={"Authorization": f"Bearer {bearer}"})
    assert by_bearer.json() == {"by": "script-1"}
    # A browser cannot add that header for another site (no CORS), so the check is not needed.
    assert by_key.status_code == 200
    assert plain.status_code == 200


async def test_a_session_is_renewed_once_half_its_lifetime_is_gone_while_it_is_live(app):
    redis = app.state.runtime.redis
    sid = await sessions.open_session(redis, account_id="acc-1", max_s=3600)
    async with client(app, mcc_session=session_token(sid=sid, ttl_s=300), mcc_csrf="t") as c:
        response = await c.get("/whoami")
    renewed = sessions.parse_set_cookie(response.headers["set-cookie"])["mcc_session"]
    claims = jwt.decode(renewed, SECRET, algorithms=["HS256"], audience="mcc")
    assert claims["exp"] - time.time() > 800 and claims["sid"] == sid and claims["name"] == "张三"
    assert "HttpOnly" in response.headers["set-cookie"] and "SameSite=Lax" in response.headers["set-cookie"]
    async with client(app, mcc_session=session_token(sid=sid, ttl_s=800)) as c:
        assert "set-cookie" not in (await c.get("/whoami")).headers  # more than half left: nothing to do


async def test_a_closed_session_is_not_renewed_and_runs_out(app):
    redis = app.state.runtime.redis
    sid = await sessions.open_session(redis, account_id="acc-1", max_s=3600)
    await sessions.close_account_sessions(redis, "acc-1")
    async with client(app, mcc_session=session_token(sid=sid, ttl_s=300)) as c:
        response = await c.get("/whoami")
    assert response.status_code == 200 and "set-cookie" not in response.headers
    async with client(app, mcc_session=session_token(sid=sid, ttl_s=-1)) as c:
        assert (await c.get("/whoami")).status_code == 401


async def test_renewal_never_extends_a_session_past_its_maximum_after_sign_in(app):
    redis = app.state.runtime.redis
    sid = await sessions.open_session(redis, account_id="acc-1", max_s=3600)
    signed_in = int(time.time()) - app.state.settings.session_max_s + 60
    async with client(app, mcc_session=session_token(sid=sid, ttl_s=300, auth_time=signed_in)) as c:
        response = await c.get("/whoami")
    renewed = sessions.parse_set_cookie(response.headers["set-cookie"])["mcc_session"]
    assert jwt.decode(renewed, SECRET, algorithms=["HS256"], audience="mcc")["exp"] <= signed_in + \
        app.state.settings.session_max_s


async def test_tokens_for_another_audience_or_living_too_long_are_refused(app):
    other = mint_token(SECRET, subject="x", role="admin", unit_code="320600", audience="another-city")
    century = mint_token(SECRET, subject="x", role="admin", unit_code="320600", ttl=timedelta(days=36500))
    async with client(app) as c:
        for token in (other, century):
            assert (await c.get("/whoami", headers={"Authorization": f"Bearer {token}"})).status_code == 401

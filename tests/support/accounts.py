"""Helpers for tests that sign people in: accounts made as the command line makes them, the sign-in form
posted as a browser posts it, and the same token carried as a cookie instead of a bearer header."""

from __future__ import annotations

import re
from typing import Any

import httpx

from services.dispatch.domain.accounts import Account
from services.dispatch.service import accounts as service
from shared.roles import Role
from shared.sessions import CSRF_COOKIE, SESSION_COOKIE

PASSWORD = "Kx9-stapler-orchid-41"


async def add_account(d: Any, *, login: str, role: Role | str, unit: str, password: str = PASSWORD,
                      name: str | None = None) -> Account:
    """An account created the way `mcc user add` creates one (no admin scope)."""
    return await service.create_account(
        uow=d.runtime.uow(), org=d.holder.policy.org, admin=None, who=service.Who("cli:test"),
        command=service.CreateAccount(login=login, display_name=name or f"测试{login}", unit_code=unit,
                                      role=Role(role), password=password),
        min_password=d.app.state.settings.password_min_length)


def browser(app: Any) -> httpx.AsyncClient:
    """A client with its own cookie jar, as one browser."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def sign_in(client: httpx.AsyncClient, login: str, password: str = PASSWORD, *,
                  next_url: str = "") -> httpx.Response:
    """Open the sign-in page (which sets the CSRF cookie) and post the form with its token."""
    page = await client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return await client.post("/signin", data={"login": login, "password": password, "csrf_token": token,
                                              "next": next_url})


def cookie_credentials(headers: dict[str, str], csrf: str = "csrf-test-token") -> dict[str, str]:
    """The bearer token of `headers` carried the browser's way: session cookie plus CSRF double-submit."""
    token = headers["Authorization"].removeprefix("Bearer ").strip()
    return {"Cookie": f"{SESSION_COOKIE}={token}; {CSRF_COOKIE}={csrf}", "X-CSRF-Token": csrf}


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get(SESSION_COOKIE)

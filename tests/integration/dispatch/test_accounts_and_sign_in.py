"""Accounts and sign-in on dispatch with real Redis, NATS and databases: sessions, locks, scope, audit, and a
password that appears nowhere but in its hash."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from services.dispatch.adapters.orm import AccountAudit, AccountRow
from shared import sessions
from shared.events.envelope import utcnow
from tests.support.accounts import PASSWORD, add_account, browser, session_cookie, sign_in
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import CITY, TONGZHOU, TZ_TOWN_A, TZ_TOWN_B
from tests.support.polling import eventually


async def audit_actions(d, account_id=None) -> list[str]:
    async with d.runtime.sessions() as s:
        query = select(AccountAudit.action).order_by(AccountAudit.id)
        if account_id:
            query = query.where(AccountAudit.account_id == account_id)
        return list((await s.execute(query)).scalars())


async def test_a_person_signs_in_and_is_sent_to_the_console_of_their_role(start_dispatch):
    async with start_dispatch() as d:
        await add_account(d, login="town.wang", role="town_dispatcher", unit=TZ_TOWN_A, name="王镇")
        await add_account(d, login="root", role="admin", unit=CITY)
        async with browser(d.app) as town, browser(d.app) as admin:
            signed = await sign_in(town, "town.wang")
            assert signed.status_code == 303 and signed.headers["location"].endswith(":8004/board")
            cookie = [h for h in signed.headers.get_list("set-cookie") if h.startswith("mcc_session=")][0]
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
            me = (await town.get("/api/v1/me")).json()
            assert me["login"] == "town.wang" and me["display_name"] == "王镇" and "password" not in json.dumps(me)
            assert (await sign_in(admin, "root")).headers["location"].endswith("/admin/accounts")
            page = await admin.get("/admin/accounts")
            assert page.status_code == 200 and "town.wang" in page.text and "账号管理" in page.text
        claims = jwt.decode(session_cookie_value(cookie), options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == d.app.state.settings.session_ttl_s
        assert claims["kind"] == "session" and claims["name"] == "王镇"


def session_cookie_value(set_cookie: str) -> str:
    return sessions.parse_set_cookie(set_cookie)["mcc_session"]


async def test_five_wrong_passwords_lock_the_account_for_the_configured_time(start_dispatch):
    async with start_dispatch(signin_lock_s=2) as d:
        await add_account(d, login="county.li", role="county_dispatcher", unit=TONGZHOU)
        async with browser(d.app) as c:
            wrong = [await sign_in(c, "county.li", f"wrong-password-{i}") for i in range(5)]
            assert [r.status_code for r in wrong] == [401] * 4 + [429]
            assert "登录名或密码错误" in wrong[0].text and "锁定" in wrong[4].text
            locked = await sign_in(c, "county.li")  # the right password no longer helps
            assert locked.status_code == 429 and "请 1 分钟后再试" in locked.text
            # An unknown login gets the same answers: nothing tells whether it exists.
            unknown = [await sign_in(c, "nobody.here", f"wrong-password-{i}") for i in range(5)]
            assert [r.status_code for r in unknown] == [401] * 4 + [429]
            assert unknown[0].text.replace("nobody.here", "X") == wrong[0].text.replace("county.li", "X")

            async def unlocked():
                return (await sign_in(c, "county.li")).status_code == 303

            await eventually(unlocked, timeout=30, interval=0.5, message="the lock did not end")
        assert (await audit_actions(d)).count("sign_in_failed") == 10 and "sign_in" in await audit_actions(d)


async def test_a_disabled_accounts_session_stops_working_within_the_token_lifetime(start_dispatch):
    async with start_dispatch() as d:
        admin = await add_account(d, login="root", role="admin", unit=CITY)
        town = await add_account(d, login="town.zhao", role="town_dispatcher", unit=TZ_TOWN_A)
        async with browser(d.app) as admin_browser, browser(d.app) as town_browser:
            await sign_in(admin_browser, "root")
            await sign_in(town_browser, "town.zhao")
            token = session_cookie(town_browser)
            secret = d.app.state.token_secret
            claims = jwt.decode(token, secret, algorithms=["HS256"], audience="mcc")

            def aged(**changes):  # the same session, later in its life (less than half the lifetime left)
                return jwt.encode({**claims, "exp": int(time.time()) + 60, **changes}, secret, algorithm="HS256")

            later = await d.client.get("/api/v1/me", headers={"Cookie": f"mcc_session={aged()}"})
            assert later.status_code == 200 and "mcc_session=" in later.headers.get("set-cookie", "")
            csrf = admin_browser.cookies.get("mcc_csrf")
            disabled = await admin_browser.patch(f"/api/v1/accounts/{town.id}", json={"active": False},
                                                 headers={"X-CSRF-Token": csrf})
            assert disabled.status_code == 200 and disabled.json()["active"] is False
            after = await d.client.get("/api/v1/me", headers={"Cookie": f"mcc_session={aged()}"})
            assert after.status_code == 200 and "set-cookie" not in after.headers  # not renewed: it runs out
            expired = await d.client.get("/api/v1/me", headers={"Cookie": f"mcc_session={aged(exp=1)}"})
            assert expired.status_code == 401
            assert (await sign_in(browser_of := browser(d.app), "town.zhao")).status_code == 401
            await browser_of.aclose()
        # Dispatch also checks the account itself: a session still live in Redis is not renewed once disabled.
        sid = await sessions.open_session(d.runtime.redis, account_id=town.id, max_s=600)
        revived = await d.client.get("/api/v1/me", headers={"Cookie": f"mcc_session={aged(sid=sid)}"})
        assert "set-cookie" not in revived.headers
        assert await audit_actions(d, town.id) == ["created", "sign_in", "disabled", "sign_in_failed"]
        assert admin.id != town.id


async def test_sign_out_ends_the_session_and_clears_the_cookie(start_dispatch):
    async with start_dispatch() as d:
        await add_account(d, login="op.chen", role="operator", unit=CITY)
        async with browser(d.app) as c:
            assert (await sign_in(c, "op.chen")).headers["location"].endswith(":8002/console")
            token = session_cookie(c)
            claims = jwt.decode(token, d.app.state.token_secret, algorithms=["HS256"], audience="mcc")
            refused = await c.post("/signout")  # a cookie-authenticated post without the CSRF token
            assert refused.status_code == 403
            out = await c.post("/signout", headers={"X-CSRF-Token": c.cookies.get("mcc_csrf")})
            assert out.status_code == 303 and out.headers["location"] == "/signin"
            assert session_cookie(c) is None
        assert not await sessions.session_live(d.runtime.redis, claims["sid"])
        assert (await audit_actions(d))[-1] == "sign_out"


async def test_the_sign_in_form_and_admin_forms_without_the_csrf_token_are_refused(start_dispatch):
    async with start_dispatch() as d:
        await add_account(d, login="root", role="admin", unit=CITY)
        async with browser(d.app) as c:
            await c.get("/signin")
            forged = await c.post("/signin", data={"login": "root", "password": PASSWORD})
            assert forged.status_code == 403 and session_cookie(c) is None
            await sign_in(c, "root")
            form = {"login": "new.one", "display_name": "新人", "unit_code": TZ_TOWN_A, "role": "town_dispatcher",
                    "password": PASSWORD}
            assert (await c.post("/admin/accounts", data=form)).status_code == 403
            created = await c.post("/admin/accounts", data={**form, "csrf_token": c.cookies.get("mcc_csrf")})
            assert created.status_code == 303 and "done=created" in created.headers["location"]
            assert "new.one" in (await c.get("/admin/accounts?done=created")).text


async def test_a_town_admin_cannot_create_or_see_a_county_account(start_dispatch):
    async with start_dispatch() as d:
        county = await add_account(d, login="county.li", role="county_dispatcher", unit=TONGZHOU)
        neighbour = await add_account(d, login="town.b", role="town_dispatcher", unit=TZ_TOWN_B)
        await add_account(d, login="town.admin", role="admin", unit=TZ_TOWN_A)
        async with browser(d.app) as c:
            await sign_in(c, "town.admin")
            h = {"X-CSRF-Token": c.cookies.get("mcc_csrf")}
            body = {"login": "sneaky", "display_name": "越权", "unit_code": TONGZHOU, "role": "county_dispatcher",
                    "password": PASSWORD}
            assert (await c.post("/api/v1/accounts", json=body, headers=h)).status_code == 404
            for other in (county, neighbour):
                assert (await c.get(f"/api/v1/accounts/{other.id}")).status_code == 404
                assert (await c.patch(f"/api/v1/accounts/{other.id}", json={"active": False},
                                      headers=h)).status_code == 404
                assert (await c.post(f"/api/v1/accounts/{other.id}/password", json={"password": PASSWORD + "x"},
                                     headers=h)).status_code == 404
            listed = {a["login"] for a in (await c.get("/api/v1/accounts")).json()}
            assert listed == {"town.admin"}
            own = await c.post("/api/v1/accounts", headers=h, json={**body, "login": "town.own",
                                                                     "unit_code": TZ_TOWN_A, "role": "town_dispatcher"})
            assert own.status_code == 201
            # Within reach, but a role that does not fit the unit: a field error, not a 500.
            misfit = await c.patch(f"/api/v1/accounts/{own.json()['id']}", json={"role": "county_dispatcher"},
                                   headers=h)
            assert misfit.status_code == 422 and misfit.json()["detail"][0]["field"] == "role"
            # Moving someone up and out of reach is refused too.
            out = await c.patch(f"/api/v1/accounts/{own.json()['id']}", json={"unit_code": TONGZHOU}, headers=h)
            assert out.status_code == 422
        async with d.runtime.sessions() as s:
            logins = set((await s.execute(select(AccountRow.login))).scalars())
        assert logins == {"county.li", "town.b", "town.admin", "town.own"}


async def test_weak_passwords_bad_logins_and_taken_logins_get_field_errors(start_dispatch):
    async with start_dispatch() as d:
        await add_account(d, login="root", role="admin", unit=CITY)
        async with browser(d.app) as c:
            await sign_in(c, "root")
            h = {"X-CSRF-Token": c.cookies.get("mcc_csrf")}
            base = {"login": "ok.login", "display_name": "甲", "unit_code": TZ_TOWN_A, "role": "town_dispatcher",
                    "password": PASSWORD}
            short = await c.post("/api/v1/accounts", json={**base, "password": "short"}, headers=h)
            assert short.status_code == 422 and short.json()["detail"][0]["field"] == "password"
            bad = await c.post("/api/v1/accounts", json={**base, "login": "Bad Login!"}, headers=h)
            assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "login"
            assert (await c.post("/api/v1/accounts", json=base, headers=h)).status_code == 201
            assert (await c.post("/api/v1/accounts", json=base, headers=h)).status_code == 409


async def test_the_password_appears_in_no_log_line_response_or_nats_message(start_dispatch, nats_url, caplog):
    secret_password = "Plum-Kettle-7731-zz"
    new_password = "Quartz-Ferry-0419-yy"
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with start_dispatch() as d:
        await add_account(d, login="root", role="admin", unit=CITY)
        async with browser(d.app) as c:
            texts.append((await sign_in(c, "root")).text)
            h = {"X-CSRF-Token": c.cookies.get("mcc_csrf")}
            created = await c.post("/api/v1/accounts", headers=h, json={
                "login": "town.sun", "display_name": "孙", "unit_code": TZ_TOWN_A, "role": "town_dispatcher",
                "password": secret_password})
            texts += [created.text, json.dumps(dict(created.headers))]
            account_id = created.json()["id"]
            texts.append((await c.post(f"/api/v1/accounts/{account_id}/password", headers=h,
                                       json={"password": new_password})).text)
            texts.append((await c.post("/api/v1/accounts", headers=h, json={
                "login": "x.y", "display_name": "x", "unit_code": TZ_TOWN_A, "role": "town_dispatcher",
                "password": secret_password[:4]})).text)  # a refused one: the 422 does not echo it either
            texts.append((await c.get("/api/v1/accounts")).text)
            texts.append((await c.get("/admin/accounts")).text)
        async with browser(d.app) as person:
            texts.append((await sign_in(person, "town.sun", secret_password)).text)  # the old one: refused
            texts.append((await sign_in(person, "town.sun", new_password)).text)
            texts.append((await person.get("/api/v1/me")).text)
        async with jetstream(nats_url) as js:
            async def published():
                msgs = await stream_messages(js, "MCC_ACCOUNTS")
                return msgs if len(msgs) >= 3 else None  # root created, town.sun created, its password reset

            messages = await eventually(published, timeout=30)
        async with d.runtime.sessions() as s:
            stored = (await s.execute(select(AccountRow).where(AccountRow.login == "town.sun"))).scalar_one()
            audit_rows = [json.dumps([a.action, a.login, a.details]) for a in
                          (await s.execute(select(AccountAudit))).scalars()]
    bodies = [m.data.decode() for m in messages]
    assert any('"password_reset"' in b for b in bodies) and any('"town.sun"' in b for b in bodies)
    logs = [r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records]
    assert logs, "the flow logged nothing: the log check would prove nothing"
    for password in (secret_password, new_password):
        for where, haystack in (("log", logs), ("response", texts), ("nats", bodies), ("audit", audit_rows)):
            assert not [h for h in haystack if password in h], f"the password leaked into a {where}"
    assert stored.password_hash.startswith("$argon2id$") and new_password not in stored.password_hash
    assert "password_hash" not in " ".join(bodies + texts)


@pytest.mark.parametrize("next_url,lands", [("/board?view=overdue", "/board?view=overdue"),
                                             ("https://evil.example/steal", ":8004/board"),
                                             ("//evil.example/", ":8004/board")])
async def test_after_sign_in_the_browser_returns_only_to_mcc_itself(start_dispatch, next_url, lands):
    async with start_dispatch() as d:
        await add_account(d, login="town.wu", role="town_dispatcher", unit=TZ_TOWN_A)
        async with browser(d.app) as c:
            assert (await sign_in(c, "town.wu", next_url=next_url)).headers["location"].endswith(lands)


async def test_every_action_of_the_closed_loop_records_the_person_who_did_it(start_dispatch, nats_url):
    from services.dispatch.adapters.orm import OrderAccess
    from tests.support.dispatch import COUNTY, accepted_incident

    async with start_dispatch() as d:
        town = await add_account(d, login="town.qian", role="town_dispatcher", unit=TZ_TOWN_A, name="钱镇长")
        county = await add_account(d, login="county.sun", role="county_dispatcher", unit=TONGZHOU, name="孙主任")
        order = await d.incident(accepted_incident())
        async with browser(d.app) as t, browser(d.app) as c:
            await sign_in(t, "town.qian")
            await sign_in(c, "county.sun")
            people = {t: (town.id, "钱镇长", "session"), c: (county.id, "孙主任", "session"),
                      # None: a token from `mcc token` without a display name: named by its subject
                      None: (f"county_dispatcher@{TONGZHOU}", f"county_dispatcher@{TONGZHOU}", "script")}
            steps = [(t, "sign", {}), (t, "request_extension", {"reason": "需协调施工单位", "extension": "2wd"}),
                     (c, "approve_extension", {"extension": "1wd"}), (None, "urge", {"reason": "脚本催办"}),
                     (c, "urge", {"reason": "群众再次来电"}), (t, "start", {}),
                     (t, "close", {"result": "已清运", "evidence": ["photo://1.jpg"]})]
            for who, action, body in steps:
                client, headers = (who, {"X-CSRF-Token": who.cookies.get("mcc_csrf")}) if who else (d.client, COUNTY)
                response = await client.post(f"/api/v1/orders/{order['number']}/actions/{action}", json=body,
                                             headers=headers)
                assert response.status_code == 200, (action, response.text)
            history = (await t.get(f"/api/v1/orders/{order['number']}/history")).json()["history"]
        assert history[0]["actor_kind"] == "system"  # routing
        assert [(h["action"], h["actor"], h["actor_name"], h["actor_kind"]) for h in history[1:]] == \
            [(action, *people[who]) for who, action, _ in steps]
        async with d.runtime.sessions() as s:
            reads = (await s.execute(select(OrderAccess.subject, OrderAccess.subject_name, OrderAccess.subject_kind)
                                     .where(OrderAccess.order_id == order["id"]))).all()
        assert (town.id, "钱镇长", "session") in reads
        async with jetstream(nats_url) as js:
            async def announced():
                msgs = [json.loads(m.data) for m in await stream_messages(js, "MCC_ORDERS")]
                mine = [m["data"] for m in msgs if m["subject"] == order["id"]]
                return mine if len(mine) == len(history) else None

            events = await eventually(announced, timeout=30)
        assert [(e["actor"], e.get("actor_name")) for e in events[1:]] == \
            [people[who][:2] for who, _, _ in steps]


async def test_a_token_that_names_nobody_is_refused_at_the_door(start_dispatch):
    from shared.settings import ServiceSettings

    now = utcnow()
    nobody = jwt.encode({"sub": "", "role": "county_dispatcher", "unit": TONGZHOU, "iat": now,
                         "exp": now + timedelta(hours=1), "iss": "mcc", "aud": "mcc"},
                        ServiceSettings().token_secret, algorithm="HS256")
    async with start_dispatch() as d:
        response = await d.client.get("/api/v1/orders", headers={"Authorization": f"Bearer {nobody}"})
        assert response.status_code == 401 and "subject" in response.json()["detail"]


async def test_a_token_whose_role_does_not_fit_its_unit_is_refused_at_the_door(start_dispatch):
    from tests.support.dispatch import accepted_incident, bearer

    async with start_dispatch() as d:
        await d.incident(accepted_incident())
        for role, unit in (("city_dispatcher", TONGZHOU), ("town_dispatcher", TONGZHOU), ("operator", TZ_TOWN_A),
                           ("county_dispatcher", "999999")):
            listed = await d.client.get("/api/v1/orders", params={"view": "all"}, headers=bearer(role, unit))
            assert listed.status_code == 403 and "不相符" in listed.text, (role, unit)
        assert (await d.client.get("/api/v1/orders", headers=bearer("county_dispatcher", TONGZHOU))).status_code == 200

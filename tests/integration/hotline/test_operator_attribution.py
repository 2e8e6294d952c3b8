"""An operator signed in through the browser is recorded by account id and display name on the appeal, on the
follow-up call and on the event that tells dispatch; a script's token is marked as a script."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from services.hotline.adapters.orm import Appeal, FollowUpCall
from shared.auth import mint_token
from shared.events.catalog import FOLLOWUP_RECORDED
from tests.support.accounts import cookie_credentials
from tests.support.polling import eventually

from .support import hotline


async def test_the_appeal_and_the_follow_up_carry_the_signed_in_operators_id_and_name(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        session = mint_token(h.runtime.settings.token_secret, subject="acc-42", role="operator", unit_code="320600",
                             name="话务员小周", kind="session", ttl=timedelta(minutes=15),
                             extra={"sid": "s-42", "auth_time": int(time.time())})
        person = cookie_credentials({"Authorization": f"Bearer {session}"})
        created = await h.client.post("/api/v1/appeals", headers=person, json={
            "caller_phone": "13812341234", "appeal_type": "complaint", "category_code": "0301",
            "description": "楼下工地夜里一直施工", "address": "崇川区和平桥街道"})
        assert created.status_code == 201, created.text
        appeal = created.json()
        assert (appeal["operator"], appeal["operator_name"]) == ("acc-42", "话务员小周")
        await h.order_event(appeal, to_state="closed", version=5, order_id="order-9", name="closed")

        async def closed():
            return (await h.appeal(appeal["number"]))["status"] == "closed"

        await eventually(closed)
        rated = await h.client.post(f"/api/v1/appeals/{appeal['number']}/followups", headers=person, json={
            "reached": True, "resolved": True, "satisfaction": "satisfied"})
        assert rated.status_code == 201, rated.text
        published = [m["data"] for m in await h.messages(FOLLOWUP_RECORDED, 1)]
        assert (published[0]["operator"], published[0]["operator_name"], published[0]["operator_kind"]) == (
            "acc-42", "话务员小周", "session")
        async with h.runtime.sessions() as s:
            row = (await s.execute(select(Appeal.operator, Appeal.operator_name))).one()
            call = (await s.execute(select(FollowUpCall.operator, FollowUpCall.operator_name))).one()
        assert tuple(row) == tuple(call) == ("acc-42", "话务员小周")
        # The script token of the other tests: its subject, no name, and marked as a script on the event.
        script = await h.create()
        assert (script["operator"], script["operator_name"]) == ("op-7", None)

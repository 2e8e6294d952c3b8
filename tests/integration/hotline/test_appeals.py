"""Operators' appeals end to end in one hotline process: what happens next, what is published, who may ask."""

from __future__ import annotations

import pytest

from shared.metrics import HOTLINE_DISPOSITIONS
from shared.roles import Role
from tests.support.polling import eventually

from .support import APPEAL, hotline, token


def _count(disposition: str) -> float:
    return HOTLINE_DISPOSITIONS.labels(disposition)._value.get()


async def test_a_dispatched_appeal_answers_its_number_and_publishes_one_incident_and_one_disposition(
        db, nats_url, redis_url):
    before = _count("dispatched")
    async with hotline(db, nats_url, redis_url) as h:
        answer = await h.create(caller_phone="+86 138-1234-1234", appeal_type="投诉")
        assert answer["disposition"] == "dispatched" and answer["status"] == "accepted"
        assert answer["number"].startswith("12345-") and len(answer["number"]) == len("12345-20261122-000001")
        assert answer["next_step"] == "已受理，将派交责任单位办理"
        assert answer["caller_phone"] == "13812341234"  # the operator's own create answer has the full number
        assert answer["operator"] == "op-7" and answer["appeal_type"] == "complaint"
        assert answer["urgency"] == "normal"  # the category's default

        reported = await h.reported(1)
        assert [m["data"]["source_ref"] for m in reported] == [answer["number"]]
        assert reported[0]["data"]["caller"]["phone_masked"] == "138****1234"
        disposed = await h.disposed(1)
        assert disposed[0]["data"]["disposition"] == "dispatched"
        assert disposed[0]["data"]["appeal_number"] == answer["number"]

        shown = await h.appeal(answer["number"])
        assert shown["caller_phone_masked"] == "138****1234" and "caller_phone" not in shown
    assert _count("dispatched") == before + 1


async def test_an_urgent_category_makes_the_appeal_urgent_unless_the_operator_says_otherwise(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        urgent = await h.create(category_code="010102", description="桥面出现裂缝")
        normal = await h.create(category_code="010102", description="桥面有裂缝", urgency="normal")
        assert (urgent["urgency"], normal["urgency"]) == ("urgent", "normal")
        reported = {m["data"]["source_ref"]: m["data"] for m in await h.reported(2)}
        assert reported[urgent["number"]]["urgency"] == "urgent"


@pytest.mark.parametrize(("body", "line", "decided_by"), [
    ({"category_code": "060101", "description": "楼道里有很大的煤气味"}, "119", "category"),
    ({"description": "隔壁厨房着火了，冒黑烟"}, "119", "keyword"),
    ({"description": "小区门口有人持刀打架"}, "110", "keyword"),
    ({"description": "路边有人晕倒", "scope": {"kind": "emergency", "emergency_line": "120"}}, "120", "operator"),
    ({"category_code": "070303", "description": "十字路口两车相撞"}, "122", "category"),
])
async def test_an_emergency_is_handed_to_its_line_and_never_dispatched(db, nats_url, redis_url, body, line,
                                                                      decided_by):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        answer = await h.create(body)
        assert (answer["disposition"], answer["emergency_line"], answer["status"]) == ("emergency", line,
                                                                                       "transferred")
        assert answer["scope_decided_by"] == decided_by and line in answer["next_step"]
        stored = await h.appeal(answer["id"])
        assert stored["emergency_line"] == line  # the record keeps which line
        disposed = await h.disposed(1)
        assert disposed[0]["data"]["emergency_line"] == line
        await h.create(description="普通的噪音问题")  # a later dispatched appeal: the outbox publishes in order
        assert [m["data"]["source_ref"] for m in await h.reported(1)] != [answer["number"]]
        assert len(await h.reported(1)) == 1


@pytest.mark.parametrize(("description", "scope", "rule", "channel_word"), [
    ("这个案子我已经向法院起诉了，想问问进展", None, "litigation", "人民法院"),
    ("劳动仲裁裁决后公司还是不给钱", None, "arbitration", "仲裁委员会"),
    ("我要反映信访事项的办理结果", None, "petition", "信访部门"),
    ("举报某局干部违纪收受礼品", None, "discipline", "纪委监委"),
    ("申请公开某项目的环评报告", {"kind": "out_of_scope", "rule": "disclosure"}, "disclosure", "信息公开"),
])
async def test_an_out_of_scope_matter_is_refused_with_the_reason_and_the_right_channel(
        db, nats_url, redis_url, description, scope, rule, channel_word):
    before = _count("out_of_scope")
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        answer = await h.create(description=description, scope=scope)
        assert (answer["disposition"], answer["status"], answer["scope_rule"]) == ("out_of_scope", "refused", rule)
        assert answer["scope_reason"] and channel_word in answer["scope_channel"]
        assert channel_word in answer["next_step"]
        assert (await h.disposed(1))[0]["data"]["disposition"] == "out_of_scope"
        await h.create(description="普通的噪音问题")
        assert len(await h.reported(1)) == 1  # only the later, in-scope appeal went to intake
    assert _count("out_of_scope") == before + 1


async def test_the_operator_can_keep_in_scope_what_a_keyword_would_refuse(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        answer = await h.create(description="法院门口的路灯坏了", scope={"kind": "in_scope"})
        assert answer["disposition"] == "dispatched" and answer["scope_decided_by"] == "operator"


@pytest.mark.parametrize(("method", "path"), [
    ("post", "/api/v1/appeals"), ("get", "/api/v1/appeals/12345-20261122-000001"),
    ("post", "/api/v1/appeals/duplicates"), ("get", "/api/v1/callers/13812341234/appeals"),
    ("get", "/api/v1/knowledge/search?q=水费"), ("post", "/api/v1/appeals/x/followups"),
    ("get", "/api/v1/orders/GD1/appeals"),
])
async def test_every_hotline_endpoint_needs_an_operator_token(db, nats_url, redis_url, method, path):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        body = {"json": APPEAL} if method == "post" else {}
        anonymous = await getattr(h.client, method)(path, **body)
        assert anonymous.status_code == 401
        town = await getattr(h.client, method)(path, headers=token(h.runtime, Role.TOWN, unit="320612101"), **body)
        assert town.status_code == 403
        forged = await getattr(h.client, method)(path, headers={"Authorization": "Bearer not.a.token"}, **body)
        assert forged.status_code == 401
        assert await h.count("appeal") == 0


async def test_caller_history_lists_the_callers_earlier_appeals_with_their_status_newest_first(
        db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url) as h:
        first = await h.create(caller_phone="139 1234 5678", description="第一次反映噪音")
        second = await h.create(caller_phone="+8613912345678", description="家里起火了")  # an emergency
        third = await h.create(caller_phone="139-1234-5678", appeal_type="consultation", description="水费怎么算",
                               category_code="0402", answer_article_id="demo-001")
        await h.create(caller_phone="13700001111", description="别人的诉求")
        await h.order_event(first, to_state="dispatched", version=1)

        async def dispatched() -> dict | None:
            body = (await h.client.get("/api/v1/callers/13912345678/appeals", headers=h.headers)).json()
            return body if body["appeals"][-1]["status"] == "dispatched" else None

        history = await eventually(dispatched)
        assert history["total"] == 3 and history["caller_phone_masked"] == "139****5678"
        assert [a["number"] for a in history["appeals"]] == [third["number"], second["number"], first["number"]]
        assert [a["status"] for a in history["appeals"]] == ["closed", "transferred", "dispatched"]
        assert history["appeals"][-1]["order_number"] == "GD20261123000001"

        bad = await h.client.get("/api/v1/callers/12ab/appeals", headers=h.headers)
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "phone"

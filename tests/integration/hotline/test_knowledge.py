"""Knowledge base: demo articles at first start, Chinese search kept current on edits, direct answers."""

from __future__ import annotations

from datetime import date, timedelta

from services.hotline.service.knowledge import KnowledgeBase
from shared.metrics import HOTLINE_DISPOSITIONS
from shared.roles import Role

from .support import hotline, token


async def _search(h, q: str, **params) -> list[dict]:
    response = await h.client.get("/api/v1/knowledge/search", params={"q": q, **params}, headers=h.headers)
    assert response.status_code == 200, response.text
    return response.json()["hits"]


async def test_demo_articles_are_seeded_once_and_searched_by_chinese_words_in_any_order(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url) as h:
        seeded = await h.count("knowledge_article")
        assert seeded >= 30
        hits = await _search(h, "水费阶梯怎么计算")
        assert hits[0]["id"] == "demo-001" and hits[0]["title"] == "自来水费阶梯水价如何计算"
        assert "阶梯" in hits[0]["snippet"]
        assert (await _search(h, "停电报修"))[0]["id"] == "demo-004"
        assert (await _search(h, "工资拖欠了找谁"))[0]["id"] == "demo-021"  # words in another order
        scoped = await _search(h, "怎么申请", category="16")
        assert scoped and all(hit["category_code"].startswith("16") for hit in scoped)
        assert await _search(h, "zzzz") == []
    async with hotline(db, nats_url, redis_url) as h:  # a restart does not seed again
        assert await h.count("knowledge_article") == seeded


async def test_article_edits_are_searchable_at_once_and_other_processes_catch_up(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        other = KnowledgeBase()  # another hotline process's index on the same database
        await other.refresh(h.runtime.uow)
        assert await _search(h, "共享单车") == []
        created = await h.client.post("/api/v1/knowledge/articles", headers=h.headers, json={
            "category_code": "0701", "title": "共享单车乱停放怎么处理", "body": "共享单车应停放在划定的停车区域内。"})
        assert created.status_code == 201, created.text
        article = created.json()
        assert article["updated_by"] == "op-7"
        assert [hit["id"] for hit in await _search(h, "共享停放")] == [article["id"]]

        updated = await h.client.put(f"/api/v1/knowledge/articles/{article['id']}", headers=h.headers, json={
            "category_code": "0701", "title": "电动自行车上牌", "body": "电动自行车须登记上牌后方可上路。"})
        assert updated.status_code == 200
        assert await _search(h, "共享停放") == []  # the old words are gone from the index
        assert [hit["id"] for hit in await _search(h, "电动自行车上牌")] == [article["id"]]

        assert await other.refresh(h.runtime.uow) is True  # the revision moved: rebuilt off the event loop
        assert [hit.article_id for hit in other.search("电动自行车上牌")] == [article["id"]]
        assert await other.refresh(h.runtime.uow) is False  # nothing changed since

        admin = token(h.runtime, Role.ADMIN, subject="admin-1")
        assert (await h.client.delete(f"/api/v1/knowledge/articles/{article['id']}", headers=admin)).status_code == 204
        assert await _search(h, "电动自行车上牌") == []
        assert (await h.client.get(f"/api/v1/knowledge/articles/{article['id']}", headers=h.headers)).status_code == 404
        town = token(h.runtime, Role.TOWN, unit="320612101")
        assert (await h.client.post("/api/v1/knowledge/articles", headers=town, json={
            "title": "x", "body": "y"})).status_code == 403


async def test_an_article_out_of_its_validity_dates_is_neither_found_nor_usable(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        expired = (await h.client.post("/api/v1/knowledge/articles", headers=h.headers, json={
            "category_code": "0602", "title": "去年的供暖收费标准", "body": "供暖费每平方米二十五元。",
            "valid_to": (date.today() - timedelta(days=30)).isoformat()})).json()
        assert await _search(h, "供暖收费标准") == []
        used = await h.client.post("/api/v1/appeals", headers=h.headers, json={
            "caller_phone": "13812341234", "appeal_type": "咨询", "category_code": "0602",
            "description": "供暖费怎么收", "answer_article_id": expired["id"]})
        assert used.status_code == 422 and used.json()["detail"][0]["field"] == "answer_article_id"
        backwards = await h.client.post("/api/v1/knowledge/articles", headers=h.headers, json={
            "title": "t", "body": "b", "valid_from": "2026-02-01", "valid_to": "2026-01-01"})
        assert backwards.status_code == 422 and backwards.json()["detail"][0]["field"] == "valid_to"
        unknown = await h.client.post("/api/v1/knowledge/articles", headers=h.headers, json={
            "title": "t", "body": "b", "category_code": "999999"})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "category_code"


async def test_a_consultation_answered_from_an_article_is_closed_without_dispatch_and_counted(
        db, nats_url, redis_url):
    before = HOTLINE_DISPOSITIONS.labels("answered")._value.get()
    async with hotline(db, nats_url, redis_url) as h:
        answer = await h.create(appeal_type="咨询", category_code="0402", description="想问一下阶梯水价怎么算",
                                answer_article_id="demo-001", answer_note="已告知阶梯基数和申请方式")
        assert (answer["disposition"], answer["status"]) == ("answered", "closed")
        assert answer["answer_article"]["title"] == "自来水费阶梯水价如何计算"
        assert answer["next_step"] == "已直接答复，办结"
        article = (await h.client.get("/api/v1/knowledge/articles/demo-001", headers=h.headers)).json()
        assert article["answer_count"] == 1
        assert (await h.disposed(1))[0]["data"]["disposition"] == "answered"

        complaint = await h.client.post("/api/v1/appeals", headers=h.headers, json={
            "caller_phone": "13812341234", "appeal_type": "complaint", "category_code": "0402",
            "description": "水费收多了", "answer_article_id": "demo-001"})
        assert complaint.status_code == 422 and complaint.json()["detail"][0]["field"] == "answer_article_id"
        missing = await h.client.post("/api/v1/appeals", headers=h.headers, json={
            "caller_phone": "13812341234", "appeal_type": "consultation", "category_code": "0402",
            "description": "水费", "answer_article_id": "no-such-article"})
        assert missing.status_code == 422

        await h.create(description="普通的噪音问题")
        assert len(await h.reported(1)) == 1  # the answered consultation never went to intake
        assert await h.count("appeal") == 2
    assert HOTLINE_DISPOSITIONS.labels("answered")._value.get() == before + 1

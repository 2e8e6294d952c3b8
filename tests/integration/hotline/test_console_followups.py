"""The operator console's follow-up worklist (回访): closed orders due a call, and the retry spacing enforced."""

from __future__ import annotations

from tests.support.polling import eventually

from .support import hotline


async def _closed(h, appeal) -> bool:  # noqa: ANN001
    return (await h.appeal(appeal["number"]))["status"] == "closed"


async def test_a_closed_order_is_due_a_call_and_a_retry_before_the_spacing_is_refused(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        appeal = await h.create()
        open_list = await h.client.get("/console/followups", headers=h.headers)
        assert open_list.status_code == 200 and appeal["number"] not in open_list.text  # not closed yet

        await h.order_event(appeal, to_state="closed", version=5, order_id="order-88", name="closed")
        await eventually(lambda: _closed(h, appeal))
        due = await h.client.get("/console/followups", headers=h.headers)
        assert f'hx-post="/console/followups/{appeal["number"]}"' in due.text

        missed = await h.client.post(f"/console/followups/{appeal['number']}", headers=h.headers,
                                     data={"outcome": "not_reached"})
        assert missed.status_code == 200 and "稍后再拨" in missed.text
        too_soon = await h.client.post(f"/console/followups/{appeal['number']}", headers=h.headers,
                                       data={"outcome": "satisfied", "resolved": "yes"})
        assert too_soon.status_code == 409 and "之后才能再次回访" in too_soon.text
        waiting = await h.client.get("/console/followups", headers=h.headers)
        assert appeal["number"] in waiting.text and "后可再次回访" in waiting.text
        assert f'hx-post="/console/followups/{appeal["number"]}"' not in waiting.text


async def test_the_console_answers_a_person_without_a_session_with_the_way_to_sign_in(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        answer = await h.client.get("/console", follow_redirects=False)
        assert answer.status_code == 303 and "/signin?next=" in answer.headers["location"]
        refused = await h.client.get("/console", headers={"Authorization": "Bearer not-a-token"})
        assert refused.status_code == 401


async def test_an_address_alone_shows_where_it_points_before_the_call_is_submitted(db, nats_url, redis_url):
    async with hotline(db, nats_url, redis_url, seed_knowledge=False) as h:
        placed = await h.client.get("/console/locate", headers=h.headers,
                                    params={"address": "崇川区和平桥街道人民中路18号", "coordinates": ""})
        assert placed.status_code == 200 and 'id="located-by-address"' in placed.text
        assert "崇川区" in placed.text and "和平桥街道" in placed.text
        nowhere = await h.client.get("/console/locate", headers=h.headers,
                                     params={"address": "火星大道1号", "coordinates": ""})
        assert 'id="unplaced"' in nowhere.text

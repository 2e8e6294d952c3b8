"""Handling rates from the orders table, the league table, CSV, and early warnings from the incident stream."""

from __future__ import annotations

import csv
import io
import json

from services.dispatch.domain.handling_rates import period_of
from shared.events.catalog import APPEAL_DISPOSED
from shared.events.envelope import CloudEvent, utcnow
from shared.events.v1 import AppealDisposed, AppealDisposition, AppealType
from tests.support.apps import jetstream, stream_messages
from tests.support.dispatch import (
    CITY_CENTRE,
    COUNTY,
    TONGZHOU,
    TOWN_A,
    TOWN_B,
    TZ_TOWN_A,
    TZ_TOWN_B,
    accepted_incident,
)
from tests.support.polling import eventually


async def act(client, order, action, headers, **body):
    response = await client.post(f"/api/v1/orders/{order['number']}/actions/{action}", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_rates_count_each_order_for_the_unit_first_given_it(start_dispatch, nats_url):
    month = period_of(utcnow(), "month")
    async with start_dispatch() as d, jetstream(nats_url) as js:
        a = [await d.incident(accepted_incident(town=TZ_TOWN_A)) for _ in range(4)]
        await d.incident(accepted_incident(town=TZ_TOWN_B))
        for order in a[:3]:
            await act(d.client, order, "sign", TOWN_A)
        for order in a[:2]:
            await act(d.client, order, "close", TOWN_A, result="已办结", evidence=["photo://x"])
        await act(d.client, a[2], "return", TOWN_A, reason="非本镇职责")
        await act(d.client, a[3], "escalate", TOWN_A, reason="需县级协调")
        for number, disposition in (("1", "answered"), ("2", "answered"), ("3", "dispatched"), ("4", "emergency")):
            event = CloudEvent[AppealDisposed](source="/mcc/hotline", type=APPEAL_DISPOSED.type, data=AppealDisposed(
                appeal_number=f"12345-t-{number}", disposition=AppealDisposition(disposition),
                appeal_type=AppealType.CONSULTATION, category_code="020101", county_code=TONGZHOU,
                occurred_at=utcnow()))
            await js.publish(APPEAL_DISPOSED.subject, event.to_json(), headers={"Nats-Msg-Id": event.id})

        towns = (await d.client.get("/api/v1/rates", params={"tier": "town", "period": month, "unit": TZ_TOWN_A},
                                    headers=CITY_CENTRE)).json()
        rates = towns[0]["rates"]
        assert towns[0]["orders"] == 4  # the escalated one still counts for the town that missed it
        assert (rates["response"]["numerator"], rates["response"]["denominator"]) == (3, 4)
        assert rates["closed_on_time"] == {"value": 1.0, "numerator": 2, "denominator": 2}
        assert rates["return"]["value"] == 0.25 and rates["escalation"]["value"] == 0.25
        assert rates["satisfaction"]["value"] is None and "direct_answer" not in rates

        async def county_rates():
            body = (await d.client.get("/api/v1/rates", params={"tier": "county", "period": month},
                                       headers=COUNTY)).json()
            return body if body and body[0]["rates"]["direct_answer"]["denominator"] == 4 else None
        county = (await eventually(county_rates))[0]
        assert county["unit_code"] == TONGZHOU and county["orders"] == 5
        assert county["rates"]["direct_answer"] == {"value": 0.5, "numerator": 2, "denominator": 4}

        mine = (await d.client.get("/api/v1/rates", params={"tier": "town", "period": month},
                                   headers=TOWN_B)).json()
        assert [r["unit_code"] for r in mine] == [TZ_TOWN_B]  # a town sees only itself
        assert (await d.client.get("/api/v1/rates", params={"tier": "town", "period": month, "unit": TZ_TOWN_A},
                                   headers=TOWN_B)).status_code == 404
        assert (await d.client.get("/api/v1/rates", params={"period": "last month"},
                                   headers=CITY_CENTRE)).status_code == 422

        exported = await d.client.get("/api/v1/rates", params={"tier": "town", "period": month, "format": "csv"},
                                      headers=CITY_CENTRE)
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["周期 period", "单位代码 unit", "单位 name"] and len(rows) == 1 + 96

        fresh = (await d.client.get("/api/v1/rates", params={"tier": "town", "period": month, "unit": TZ_TOWN_B},
                                    headers=CITY_CENTRE)).json()[0]["rates"]["response"]
        assert fresh == {"value": None, "numerator": 0, "denominator": 0}  # still inside its window: not missed
        later = (await d.client.get("/api/v1/rates", headers=CITY_CENTRE, params={
            "tier": "town", "period": month, "unit": TZ_TOWN_B, "as_of": "2099-01-01T00:00:00+08:00"})).json()
        assert later[0]["rates"]["response"]["denominator"] == 1  # past its deadline unsigned: missed

        league = (await d.client.get("/api/v1/rates/league", params={"tier": "town", "month": month, "min_orders": 1},
                                     headers=CITY_CENTRE)).json()
        # Town B's one fresh order gives it no score yet; town A alone is compared with nobody: on neither list.
        assert league["red"] == [] and league["black"] == []
        assert TZ_TOWN_B in league["excluded"] and len(league["excluded"]) == 95
        table = await d.client.get("/api/v1/rates/league", headers=CITY_CENTRE,
                                   params={"tier": "town", "month": month, "min_orders": 1, "format": "csv"})
        assert table.headers["content-type"].startswith("text/csv") and table.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(table.content.decode("utf-8-sig"))))
        assert rows[0][:4] == ["榜单 list", "名次 rank", "周期 period", "单位代码 unit"]
        assert ["排名 ranked", "1", month, TZ_TOWN_A] == rows[1][:4] and len(rows) == 1 + 1 + 95


async def test_a_spike_in_one_town_raises_one_early_warning_and_steady_towns_none(start_dispatch, nats_url):
    async with start_dispatch() as d, jetstream(nats_url) as js:
        for _ in range(7):
            await d.incident(accepted_incident(town=TZ_TOWN_A, category="030202"))
        for category in ("020101", "040102", "030202"):
            await d.incident(accepted_incident(town=TZ_TOWN_B, category=category))

        alerts = (await d.client.get("/api/v1/alerts", headers=COUNTY)).json()
        assert len(alerts) == 1
        alert = alerts[0]
        assert (alert["area_code"], alert["category_group"]) == (TZ_TOWN_A, "03") and alert["count"] >= 5
        raised = await eventually(lambda: stream_messages(js, "MCC_ALERTS"))
        assert len(raised) == 1 and json.loads(raised[0].data)["data"]["area_code"] == TZ_TOWN_A
        assert (await d.client.get("/api/v1/alerts", headers=TOWN_A)).json()[0]["id"] == alert["id"]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_after_a_scripted_flow_the_exposed_metrics_moved_by_exactly_what_happened(start_dispatch):
    from services.dispatch.service import handlers

    async with start_dispatch() as d:
        before = _samples((await d.client.get("/metrics")).text)
        first = await d.incident(accepted_incident(town=TZ_TOWN_A))
        second = await d.incident(accepted_incident(town=TZ_TOWN_A))
        await act(d.client, first, "sign", TOWN_A)
        await act(d.client, first, "close", TOWN_A, result="已办结", evidence=["photo://x"])
        await act(d.client, second, "escalate", TOWN_A, reason="需县级协调")
        await handlers.refresh_gauges(uow=d.runtime.uow())
        after = _samples((await d.client.get("/metrics")).text)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("mcc_orders_dispatched_total", tier="town") == 2
    assert delta("mcc_orders_dispatched_total", tier="county") == 1  # the escalation
    assert delta("mcc_orders_signed_total", tier="town", timeliness="on_time") == 1
    assert delta("mcc_orders_closed_total", tier="town", timeliness="on_time") == 1
    assert delta("mcc_orders_escalated_total", from_tier="town", to_tier="county") == 1
    assert delta("mcc_order_time_to_sign_seconds_count", tier="town") == 1
    assert after[("mcc_orders_open", (("county", TONGZHOU), ("town", TZ_TOWN_A)))] == 1  # the escalated one
    assert ("mcc_orders_overdue", (("county", TONGZHOU), ("town", TZ_TOWN_A))) in after


async def test_a_town_busy_every_hour_of_the_week_raises_no_warning_for_its_usual_load(start_dispatch):
    from datetime import timedelta

    from services.dispatch.adapters import buckets
    from services.dispatch.service import handlers

    async with start_dispatch() as d:
        window = utcnow().replace(minute=0, second=0, microsecond=0)
        async with d.runtime.uow() as uow:  # a week of ten incidents an hour in town A, nothing in town B
            await buckets.bump_buckets(uow.session, {(window - timedelta(hours=h), TZ_TOWN_A, "03"): 10
                                                     for h in range(1, 169)})
            await uow.commit()
        for _ in range(2):  # two batches: the second finds the window already announced for town B
            batch = [accepted_incident(town=town, category="030202") for town in (TZ_TOWN_A, TZ_TOWN_B)
                     for _ in range(7)]
            await handlers.handle_incidents_accepted(batch, uow=d.runtime.uow(), holder=d.holder)

        alerts = (await d.client.get("/api/v1/alerts", headers=COUNTY)).json()
        assert [(a["area_code"], a["category_group"]) for a in alerts] == [(TZ_TOWN_B, "03")]
        async with d.runtime.uow() as uow:
            key = (window, TZ_TOWN_A, "03")
            history = (await buckets.bucket_histories(uow.session, [key], windows=168, step=timedelta(hours=1)))[key]
            assert history == [10] * 168


async def test_a_batch_of_dispositions_counts_each_appeal_once_even_when_delivered_twice(start_dispatch):
    from sqlalchemy import select

    from services.dispatch.adapters.orm import DispositionDay, WorkOrder
    from services.dispatch.service import handlers

    def disposed(number: str, disposition: str, linked: str | None = None) -> CloudEvent[AppealDisposed]:
        return CloudEvent[AppealDisposed](source="/mcc/hotline", type=APPEAL_DISPOSED.type, data=AppealDisposed(
            appeal_number=number, disposition=AppealDisposition(disposition), appeal_type=AppealType.COMPLAINT,
            category_code="020101", county_code=TONGZHOU, linked_order_number=linked, occurred_at=utcnow()))

    async with start_dispatch() as d:
        order = await d.incident(accepted_incident())
        answered = [disposed(f"12345-b-{i}", "answered") for i in range(3)]
        links = [disposed(f"12345-l-{i}", "linked", order["number"]) for i in range(2)]
        batch = [*answered, answered[0], *links]  # one event twice in the same batch
        await handlers.handle_appeals_disposed(batch, uow=d.runtime.uow())
        await handlers.handle_appeals_disposed(batch, uow=d.runtime.uow())  # the whole batch redelivered

        async with d.runtime.sessions() as s:
            days = {r.disposition: r.count for r in (await s.execute(select(DispositionDay))).scalars()}
            duplicates = (await s.execute(select(WorkOrder.duplicate_count).where(
                WorkOrder.number == order["number"]))).scalar_one()
        assert days == {"answered": 3, "linked": 2} and duplicates == 2

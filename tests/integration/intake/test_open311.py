"""Open311 GeoReport v2: answers validate against the JSON Schemas written from the spec, XML uses the spec's
element names, errors are the spec's list of {code, description}, and bad input writes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest

from shared.events.catalog import INCIDENT_ACCEPTED, ORDER_EVENTS
from shared.events.envelope import utcnow
from shared.events.v1 import AppealType, Channel, OrderChanged
from shared.outbox import build_event
from tests.integration.intake.conftest import validate
from tests.support.apps import jetstream, stream_messages
from tests.support.geo import first_grid_point
from tests.support.polling import eventually

V2 = "/open311/v2"
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def xml(response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


def form(key: str | None, **fields) -> str:
    point = first_grid_point()
    base = {"service_code": "010201", "lat": str(point["lat"]), "long": str(point["lon"]), "description": "路灯不亮已经三天",
            "address_string": "崇川区和平桥街道人民路 18 号"}
    if key is not None:
        base["api_key"] = key
    base.update(fields)
    return urlencode({k: v for k, v in base.items() if v is not None})


async def post(intake, body: str, fmt: str = "json", **headers):
    return await intake.client.post(f"{V2}/requests.{fmt}", content=body, headers={**FORM, **headers})


async def test_the_service_list_validates_and_offers_every_leaf_category(start_intake):
    async with start_intake() as intake:
        listed = await intake.client.get(f"{V2}/services.json")
        assert listed.status_code == 200 and listed.headers["content-type"].startswith("application/json")
        services = listed.json()
        validate(services, "service_list")
        by_code = {s["service_code"]: s for s in services}
        assert len(services) == len(intake.app.state.reference.categories.leaves())
        assert by_code["010201"]["group"] == "市政设施" and by_code["010201"]["metadata"] is True
        assert by_code["040101"]["metadata"] is False  # 停水 is urgent by default: nothing to ask
        root = xml(await intake.client.get(f"{V2}/services.xml"))
        assert root.tag == "services" and len(root.findall("service")) == len(services)
        first = root.find("service")
        assert [c.tag for c in first] == ["service_code", "service_name", "description", "metadata", "type",
                                          "keywords", "group"]


async def test_a_service_definition_lists_its_attributes_in_the_spec_format(start_intake):
    async with start_intake() as intake:
        definition = (await intake.client.get(f"{V2}/services/010201.json")).json()
        validate(definition, "service_definition")
        urgency = next(a for a in definition["attributes"] if a["code"] == "urgency")
        assert urgency["datatype"] == "singlevaluelist" and {v["key"] for v in urgency["values"]} == {
            "normal", "urgent"}
        root = xml(await intake.client.get(f"{V2}/services/010201.xml"))
        assert root.tag == "service_definition"
        attribute = root.find("attributes/attribute")
        assert attribute.find("code").text == "urgency" and attribute.find("values/value/key").text == "normal"
        assert (await intake.client.get(f"{V2}/services/040101.json")).json()["attributes"] == []


@pytest.mark.parametrize("path", ["/services/999999.json", "/services/01.json", "/requests/311-x.json",
                                  "/tokens/nope.json", "/nothing-here.json", "/services.csv"])
async def test_what_does_not_exist_is_a_404_in_the_spec_error_format(start_intake, path):
    async with start_intake() as intake:
        answer = await intake.client.get(V2 + path)
        assert answer.status_code == 404
        validate(answer.json(), "errors")
        assert answer.json()[0]["code"] == 404
        if path.endswith(".json") and path != "/nothing-here.json":
            as_xml = await intake.client.get(V2 + path[:-5] + ".xml")
            root = xml(as_xml)
            assert as_xml.status_code == 404 and root.tag == "errors"
            assert root.find("error/code").text == "404" and root.find("error/description").text


async def test_discovery_names_the_v2_endpoint_in_both_formats(start_intake):
    async with start_intake() as intake:
        document = (await intake.client.get("/open311/discovery.json")).json()
        validate(document, "discovery")
        assert document["endpoints"][0]["url"].endswith("/open311/v2")
        root = xml(await intake.client.get("/open311/discovery.xml"))
        assert root.find("endpoints/endpoint/specification").text == "http://wiki.open311.org/GeoReport_v2"
        assert {f.text for f in root.findall("endpoints/endpoint/formats/format")} == {"text/xml",
                                                                                       "application/json"}


def order_event(incident_id: str, *, action: str, to_state: str, version: int, unit: str | None = "320613101",
                deadline=None, event: str = "dispatched"):
    data = OrderChanged(order_id="ord-1", order_number="GD20261123000001", incident_id=incident_id, action=action,
                        from_state=None, to_state=to_state, version=version, unit_code=unit, tier="town",
                        category_code="010201", appeal_type=AppealType.HELP, channel=Channel.OPEN311,
                        source_ref="311", actor="system:dispatch", handle_deadline=deadline,
                        occurred_at=utcnow())
    return build_event(ORDER_EVENTS[event], data, source="/mcc/dispatch")


async def test_a_posted_request_gets_an_id_at_once_then_follows_its_order_to_closed(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        _, key = await intake.issue_key()
        created = await post(intake, form(key, **{"attribute[urgency]": "urgent"}))
        assert created.status_code == 201, created.text
        validate(created.json(), "post_service_request")
        request_id = created.json()[0]["service_request_id"]

        read = await intake.client.get(f"{V2}/requests/{request_id}.json")
        validate(read.json(), "service_requests")
        assert read.json()[0]["status"] == "open" and read.json()[0]["agency_responsible"] is None

        accepted = await eventually(lambda: _accepted_for(js, request_id))
        assert accepted["channel"] == "open311" and accepted["urgency"] == "urgent"
        incident_id = accepted["incident_id"]

        deadline = utcnow() + timedelta(days=5)
        # Out of order on purpose: the late "signed" (version 2) must not reopen a closed request.
        for name, event in (("dispatched", order_event(incident_id, action="dispatch", to_state="dispatched",
                                                       version=1, deadline=deadline)),
                            ("closed", order_event(incident_id, action="close", to_state="closed", version=3,
                                                   event="closed")),
                            ("signed", order_event(incident_id, action="sign", to_state="signed", version=2,
                                                   event="signed"))):
            await js.publish(ORDER_EVENTS[name].subject, event.to_json(), headers={"Nats-Msg-Id": event.id})

        async def closed():
            answer = (await intake.client.get(f"{V2}/requests/{request_id}.json")).json()[0]
            return answer if answer["status"] == "closed" else None

        view = await eventually(closed)
        await eventually(lambda: _consumer_done(js, "intake-orders"))
        view = (await intake.client.get(f"{V2}/requests/{request_id}.json")).json()[0]
        assert view["status"] == "closed"
        validate([view], "service_requests")
        assert view["agency_responsible"] == "和平桥街道"
        assert view["expected_datetime"] is not None and "已办结" in view["status_notes"]
        root = xml(await intake.client.get(f"{V2}/requests/{request_id}.xml"))
        assert root.tag == "service_requests" and root.find("request/status").text == "closed"
        assert root.find("request/service_request_id").text == request_id

        token = await intake.client.get(f"{V2}/tokens/{request_id}.json")
        validate(token.json(), "token")
        assert token.json()[0]["service_request_id"] == request_id


async def _consumer_done(js, durable: str) -> bool:
    info = await js.consumer_info("MCC_ORDERS", durable)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def _accepted_for(js, request_id: str):
    for message in await stream_messages(js, "MCC_INCIDENTS", INCIDENT_ACCEPTED.wildcard):
        data = json.loads(message.data)["data"]
        if data["source_ref"] == request_id:
            return data
    return None


async def test_the_submitters_phone_and_email_appear_in_no_view_and_leave_only_masked(start_intake, nats_url):
    async with start_intake() as intake, jetstream(nats_url) as js:
        _, key = await intake.issue_key()
        created = await post(intake, form(key, phone="13912345678", email="zhang@example.cn", first_name="三",
                                          last_name="张", device_id="dev-77"))
        request_id = created.json()[0]["service_request_id"]
        accepted = await eventually(lambda: _accepted_for(js, request_id))
        assert accepted["caller"]["phone_masked"] == "139****5678"
        for path in (f"/requests/{request_id}.json", f"/requests/{request_id}.xml", "/requests.json"):
            text = (await intake.client.get(V2 + path)).text
            assert "13912345678" not in text and "zhang@example.cn" not in text and "dev-77" not in text
        everything = [m.data.decode() for m in await stream_messages(js, "MCC_INTAKE")]
        everything += [m.data.decode() for m in await stream_messages(js, "MCC_INCIDENTS")]
        assert all("13912345678" not in t and "zhang@example.cn" not in t for t in everything)


async def test_an_idempotency_key_makes_a_retried_post_return_the_first_request(start_intake):
    async with start_intake() as intake:
        _, key = await intake.issue_key()
        body = form(key)
        first = await post(intake, body, **{"Idempotency-Key": "app-77-retry"})
        second = await post(intake, body, **{"Idempotency-Key": "app-77-retry"})
        assert first.json() == second.json()
        assert await intake.count("open311_request") == 1
        other = await post(intake, form(key, description="另一个问题"), **{"Idempotency-Key": "app-77-retry"})
        assert other.status_code == 400
        validate(other.json(), "errors")


@pytest.mark.parametrize("key_case", ["missing", "garbage", "revoked"])
async def test_a_post_without_a_valid_api_key_is_a_403_in_the_spec_format(start_intake, key_case):
    async with start_intake() as intake:
        key_id, key = await intake.issue_key()
        if key_case == "revoked":
            await intake.revoke(key_id)
        sent = {"missing": None, "garbage": "xyz", "revoked": key}[key_case]
        for fmt in ("json", "xml"):
            answer = await post(intake, form(sent), fmt=fmt)
            assert answer.status_code == 403
            if fmt == "json":
                validate(answer.json(), "errors")
                assert answer.json()[0]["code"] == 403 and "api_key" in answer.json()[0]["description"]
            else:
                assert xml(answer).find("error/code").text == "403"
        assert await intake.count("open311_request") == 0


BAD_POSTS = [
    pytest.param({"service_code": None}, 400, "service_code", id="no-service-code"),
    pytest.param({"service_code": "999999"}, 404, "service_code", id="unknown-service-code"),
    pytest.param({"service_code": "01"}, 404, "service_code", id="a-group-not-a-service"),
    pytest.param({"lat": None, "long": None, "address_string": None}, 400, "location", id="no-location"),
    pytest.param({"lat": "31.7", "long": None}, 400, "together", id="lat-without-long"),
    pytest.param({"lat": "north"}, 400, "not a number", id="lat-not-a-number"),
    pytest.param({"lat": "91"}, 400, "out of range", id="lat-out-of-range"),
    pytest.param({"long": "-181"}, 400, "out of range", id="long-out-of-range"),
    pytest.param({"lat": "nan"}, 400, "out of range", id="lat-nan"),
    pytest.param({"description": "长" * 4001}, 400, "4000", id="description-too-long"),
    pytest.param({"description": "  ", "media_url": None}, 400, "description", id="no-text-at-all"),
    pytest.param({"attribute[urgency]": "very"}, 400, "urgency", id="attribute-value-not-in-list"),
    pytest.param({"attribute[colour]": "red"}, 400, "colour", id="unknown-attribute"),
    pytest.param({"attribute[urgency][]": "urgent"}, 400, "one value", id="many-values-for-a-single-list"),
]


@pytest.mark.parametrize(("change", "status", "words"), BAD_POSTS)
async def test_a_malformed_post_is_refused_in_the_spec_format_and_writes_nothing(start_intake, change, status,
                                                                                 words):
    async with start_intake() as intake:
        _, key = await intake.issue_key()
        answer = await post(intake, form(key, **change))
        assert answer.status_code == status, answer.text
        validate(answer.json(), "errors")
        assert words in answer.json()[0]["description"]
        assert await intake.count("open311_request") == 0 and await intake.count("outbox") == 0


async def test_a_post_that_is_not_a_utf8_form_is_a_400_and_writes_nothing(start_intake):
    async with start_intake() as intake:
        _, key = await intake.issue_key()
        good = form(key)
        cases = [
            (good.encode() + b"&description=%FF%FE", FORM),  # percent-encoded invalid UTF-8
            (good.encode() + b"&description=\xff", FORM),  # raw invalid UTF-8
            (json.dumps({"api_key": key, "service_code": "010201"}).encode(), {"Content-Type": "application/json"}),
            (good.encode(), {"Content-Type": "text/plain"}),
            (good.encode(), {}),
        ]
        for content, sent_headers in cases:
            answer = await intake.client.post(f"{V2}/requests.json", content=content, headers=sent_headers)
            assert answer.status_code == 400, (content[:40], answer.text)
            validate(answer.json(), "errors")
        assert await intake.count("open311_request") == 0 and await intake.count("outbox") == 0


async def test_get_requests_filters_as_the_spec_says(start_intake):
    async with start_intake() as intake:
        _, key = await intake.issue_key()
        ids = []
        for code in ("010201", "010201", "020101"):
            ids.append((await post(intake, form(key, service_code=code))).json()[0]["service_request_id"])
        everything = (await intake.client.get(f"{V2}/requests.json")).json()
        validate(everything, "service_requests")
        assert [r["service_request_id"] for r in everything] == list(reversed(ids))  # newest first
        lights = (await intake.client.get(f"{V2}/requests.json", params={"service_code": "010201"})).json()
        assert {r["service_request_id"] for r in lights} == set(ids[:2])
        by_id = (await intake.client.get(f"{V2}/requests.json",
                                         params={"service_request_id": f"{ids[2]},{ids[0]}",
                                                 "service_code": "999999"})).json()
        assert {r["service_request_id"] for r in by_id} == {ids[0], ids[2]}
        assert len((await intake.client.get(f"{V2}/requests.json", params={"status": "open"})).json()) == 3
        assert (await intake.client.get(f"{V2}/requests.json", params={"status": "closed"})).json() == []
        past = (await intake.client.get(f"{V2}/requests.json", params={"end_date": "2020-01-01T00:00:00Z"})).json()
        assert past == []
        for params in ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
                       {"start_date": "yesterday"}, {"status": "pending"}):
            refused = await intake.client.get(f"{V2}/requests.json", params=params)
            assert refused.status_code == 400
            validate(refused.json(), "errors")
        xml_list = xml(await intake.client.get(f"{V2}/requests.xml"))
        assert len(xml_list.findall("request")) == 3


def test_the_schemas_reject_what_the_spec_forbids():
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        validate([{"service_request_id": "1", "token": "t"}], "post_service_request")
    with pytest.raises(jsonschema.ValidationError):
        validate([{"service_request_id": "1", "status": "pending", "service_code": "1",
                   "requested_datetime": "2026-11-23T08:00:00Z"}], "service_requests")
    with pytest.raises(jsonschema.ValidationError):
        validate([{"service_request_id": "1", "status": "open", "service_code": "1",
                   "requested_datetime": "2026-11-23 08:00"}], "service_requests")
    with pytest.raises(jsonschema.ValidationError):
        validate({"detail": [{"field": "x"}]}, "errors")

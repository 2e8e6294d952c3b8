"""The CreateAppeal use case on the in-memory unit of work: what a call becomes, without a database."""

from __future__ import annotations

from typing import Any

import pytest

from services.hotline.service import handlers
from services.hotline.service.knowledge import KnowledgeBase
from shared.categories import CategoryTable
from shared.errors import Invalid
from shared.events.catalog import APPEAL_DISPOSED, INCIDENT_REPORTED
from shared.events.v1 import AppealType, Coordinates
from shared.idempotency import IdempotencyConflict

from .fakes import FakeHotlineUnitOfWork

POINT = Coordinates(lon=120.87, lat=32.01)


def _call(**changes: Any) -> handlers.CreateAppeal:
    fields: dict[str, Any] = dict(
        caller_phone="13812341234", caller_name=None, appeal_type=AppealType.COMPLAINT, category_code="0301",
        description="楼下工地夜里一直施工", address="崇川区和平桥街道", coordinates=POINT, urgency=None,
        confidential=False, anonymous=False)
    return handlers.CreateAppeal(**(fields | changes))


@pytest.fixture
def uow() -> FakeHotlineUnitOfWork:
    return FakeHotlineUnitOfWork()


@pytest.fixture
def ctx() -> handlers.HotlineContext:
    return handlers.HotlineContext(categories=CategoryTable.load(), knowledge=KnowledgeBase())


async def _create(uow: FakeHotlineUnitOfWork, ctx: handlers.HotlineContext, command: handlers.CreateAppeal,
                  ) -> dict[str, Any]:
    created = await handlers.create_appeal(new_uow=lambda: uow, ctx=ctx, command=command, operator="op-7",
                                           operator_unit="320600")
    assert created.status_code == 201 and not created.replayed
    return created.body


def _types(uow: FakeHotlineUnitOfWork) -> list[str]:
    return [e.type for e in uow.events]


async def test_a_new_appeal_is_dispatched_and_reported_to_intake_in_one_commit(uow, ctx):
    answer = await _create(uow, ctx, _call())

    assert answer["disposition"] == "dispatched" and answer["status"] == "accepted"
    assert answer["number"].startswith("12345-") and answer["duplicate_candidates"] == []
    assert answer["caller_phone"] == "13812341234" and answer["caller_phone_masked"] != "13812341234"
    assert uow.commits == 1
    assert _types(uow) == [INCIDENT_REPORTED.type, APPEAL_DISPOSED.type]
    [report] = [e.data for e in uow.events if e.type == INCIDENT_REPORTED.type]
    assert report.incident_id == answer["incident_id"] and report.source_ref == answer["number"]
    stored = await uow.appeals.get(answer["number"])
    assert stored is not None and stored.operator == "op-7" and stored.disposition == "dispatched"


async def test_a_second_call_about_the_same_thing_is_offered_as_a_duplicate_and_merged_when_linked(uow, ctx):
    first = await _create(uow, ctx, _call())

    again = await _create(uow, ctx, _call(description="工地晚上还在施工，吵得睡不着"))
    assert [c["appeal_number"] for c in again["duplicate_candidates"]] == [first["number"]]

    merged = await _create(uow, ctx, _call(link_to_order=first["number"]))
    assert merged["disposition"] == "linked" and merged["linked_to"] == first["number"]
    assert "并入工单" in merged["next_step"]
    assert (await uow.appeals.get(first["number"])).linked_count == 1
    # A merged call opens no second order: intake hears of the first two calls only.
    assert _types(uow).count(INCIDENT_REPORTED.type) == 2
    assert [e.data.disposition.value for e in uow.events if e.type == APPEAL_DISPOSED.type] == \
        ["dispatched", "dispatched", "linked"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"category_code": "9999"}, "category_code"),
    ({"description": "   "}, "description"),
    ({"anonymous": True, "caller_name": "张三"}, "caller_name"),
    ({"link_to_order": "GD-NOWHERE"}, "link_to_order"),
])
async def test_bad_input_is_refused_naming_its_field_and_nothing_is_written(uow, ctx, changes, field):
    with pytest.raises(Invalid) as refused:
        await handlers.create_appeal(new_uow=lambda: uow, ctx=ctx, command=_call(**changes), operator="op-7",
                                     operator_unit="320600")

    assert [e["field"] for e in refused.value.detail] == [field]
    assert uow.events == [] and uow.appeals.rows == {}


async def test_a_create_repeated_with_its_idempotency_key_answers_the_first_appeal_and_records_nothing_more(uow, ctx):
    async def submit(command: handlers.CreateAppeal) -> handlers.Created:
        return await handlers.create_appeal(new_uow=lambda: uow, ctx=ctx, command=command, operator="op-7",
                                            operator_unit="320600", idempotency_key="call-42")

    first = await submit(_call())
    again = await submit(_call())

    assert again.replayed and again.body["number"] == first.body["number"]
    assert len(uow.appeals.rows) == 1 and _types(uow) == [INCIDENT_REPORTED.type, APPEAL_DISPOSED.type]
    with pytest.raises(IdempotencyConflict):  # the same key for another call
        await submit(_call(description="另一件事：路灯不亮"))
    assert len(uow.appeals.rows) == 1

"""The ReportGridEvent use case on the in-memory unit of work: what a grid worker's report becomes, without a
database (the same handler and group commit the route calls)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.grid.domain.lookup import Located
from services.grid.service import handlers
from shared.apikeys import ApiKey
from shared.categories import CategoryTable
from shared.errors import Forbidden, Invalid
from shared.events.catalog import INCIDENT_REPORTED
from shared.idempotency import IdempotencyConflict

from .fakes import FakeGridUnitOfWork

KEY = ApiKey("key-1", "网格通", None, datetime(2026, 11, 23, tzinfo=UTC))
HERE = Located("320613101001001", "320613101001", "320613101", "320613", "coordinates", False)
PHOTO = "ab" * 32  # a photo id is the SHA-256 of its bytes
REPORT = handlers.ReportGridEvent(category_code="0301", description="路灯不亮", lon=120.87, lat=32.01,
                                  reporter_id="gw-7", reporter_name="张三")


class _Index:
    def locate(self, lon: float, lat: float) -> Located:
        return HERE


@pytest.fixture
def uow() -> FakeGridUnitOfWork:
    return FakeGridUnitOfWork()


async def _report(uow: FakeGridUnitOfWork, item: handlers.ReportGridEvent = REPORT, *, idem: str = "idem-1",
                  key: ApiKey = KEY):
    return await handlers.report_event(new_uow=lambda: uow, index=_Index(), categories=CategoryTable.load(),
                                       key=key, idempotency_key=idem, item=item)


async def test_a_new_report_is_stored_located_and_sent_up_to_intake_in_one_commit(uow):
    stored = await _report(uow)
    assert stored.status_code == 201 and not stored.replayed
    assert stored.body["state"] == "reported" and stored.body["grid_code"] == HERE.grid_code
    assert stored.body["change_seq"] == 1 and "key_id" not in stored.body  # bookkeeping stays private
    [row] = uow.grid_events.rows.values()
    assert row.id == stored.body["id"] and row.key_id == KEY.id and row.town_code == HERE.town_code
    [event] = uow.events
    assert event.type == INCIDENT_REPORTED.type and event.subject == row.incident_id
    assert event.data.source_ref == row.id and event.data.location.grid_code == HERE.grid_code
    assert uow.commits == 1


async def test_the_same_idempotency_key_replays_the_first_answer_and_creates_nothing_more(uow):
    first = await _report(uow)
    again = await _report(uow)
    assert again.replayed and again.status_code == 201 and again.body == first.body
    assert len(uow.grid_events.rows) == 1 and len(uow.events) == 1
    with pytest.raises(IdempotencyConflict):
        await _report(uow, replace(REPORT, description="另一件事"))
    assert len(uow.grid_events.rows) == 1 and len(uow.events) == 1


async def test_an_unknown_category_or_a_fix_without_evidence_is_refused_by_field_and_writes_nothing(uow):
    with pytest.raises(Invalid) as refused:
        await _report(uow, replace(REPORT, category_code="9999"))
    assert refused.value.status == 422 and refused.value.detail[0]["field"] == "category_code"
    with pytest.raises(Invalid) as refused:
        await _report(uow, replace(REPORT, handling="resolved_on_spot"))
    assert refused.value.detail[0]["field"] == "after_photo_ids"
    assert uow.grid_events.rows == {} and uow.events == [] and uow.commits == 0


async def test_an_unuploaded_photo_is_refused_and_the_key_stays_free_for_the_retry_after_upload(uow):
    item = replace(REPORT, photo_ids=(PHOTO,))
    with pytest.raises(Invalid) as refused:
        await _report(uow, item)
    assert refused.value.detail[0]["field"] == "photo_ids[0]" and refused.value.detail[0]["type"] == "unknown_photo"
    assert uow.grid_events.rows == {} and uow.events == []
    uow.grid_events.photos[PHOTO] = ("image/jpeg", 1234)
    stored = await _report(uow, item)
    assert stored.status_code == 201 and not stored.replayed
    assert [a.id for a in uow.events[0].data.attachments] == [PHOTO]


async def test_a_key_scoped_to_another_town_may_not_report_here(uow):
    with pytest.raises(Forbidden):
        await _report(uow, key=replace(KEY, scope_unit="320613102"))
    assert uow.grid_events.rows == {} and uow.commits == 0

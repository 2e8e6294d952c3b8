"""Two edges of a commit: a COMMIT that fails may still have reached the server, so the outbox queues nothing
newer until the table is read in order; JSON columns read and write what the json module did before orjson."""

from __future__ import annotations

import json
import math

import pytest
from sqlalchemy import MetaData

from shared.db import _JSON_CODEC
from shared.events.catalog import FOLLOWUP_RECORDED
from shared.events.v1 import FollowUpRecorded
from shared.outbox import Outbox, messaging_tables
from shared.uow import UnitOfWork

pytestmark = pytest.mark.unit


class FailingSession:
    """A session whose COMMIT fails after the statements went out (the connection dropped mid-commit)."""

    async def execute(self, *args: object, **kwargs: object) -> None:
        return None

    async def commit(self) -> None:
        raise ConnectionResetError("connection lost during COMMIT")

    async def close(self) -> None:
        return None


def _follow_up() -> FollowUpRecorded:
    fields = {name: None for name in FollowUpRecorded.model_fields}
    example = FollowUpRecorded.model_json_schema().get("examples")
    if example:
        return FollowUpRecorded.model_validate(example[0])
    return FollowUpRecorded.model_construct(**fields)


async def test_a_commit_that_fails_queues_nothing_newer_until_the_relay_has_swept_the_table_in_order() -> None:
    outbox_table, inbox = messaging_tables(MetaData())
    outbox = Outbox(outbox_table, source="/mcc/test")
    uow = UnitOfWork(lambda: FailingSession(), outbox, inbox)  # type: ignore[arg-type]
    async with uow:
        await uow.emit(FOLLOWUP_RECORDED, _follow_up(), subject="GD1")
        with pytest.raises(ConnectionResetError):
            await uow.commit()
    assert outbox.sweep_pending  # the relay reads the table now, where the row may be
    outbox.committed([{"id": "later", "subject": "mcc.x", "payload": b"{}"}])
    assert not outbox.queue  # a later commit's event waits for that sweep instead of overtaking


def test_json_columns_read_what_the_json_module_wrote_and_write_what_orjson_refuses() -> None:
    dumps, loads = _JSON_CODEC["json_serializer"], _JSON_CODEC["json_deserializer"]
    assert math.isnan(loads(json.dumps({"x": float("nan")}))["x"])
    assert loads(json.dumps({"s": "\ud800"})) == {"s": "\ud800"}
    assert loads(dumps({"n": 2**70})) == {"n": 2**70}
    assert loads(dumps({"名": "文峰街道", 1: [1.5, None]})) == {"名": "文峰街道", "1": [1.5, None]}

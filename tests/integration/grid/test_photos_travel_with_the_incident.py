"""A grid event's photos travel with its incident to the work order: the report names them, the store has them."""

from __future__ import annotations

import json

from shared.attachments import AttachmentStore
from tests.integration.grid.conftest import JPEG, PNG, TOWN_A
from tests.support.apps import jetstream, stream_messages
from tests.support.polling import eventually


async def test_the_photos_of_a_reported_event_travel_in_the_incident_and_are_in_the_shared_store(
        start_grid, nats_url, tmp_path):
    async with start_grid() as grid, jetstream(nats_url) as js:
        headers = await grid.key(TOWN_A)
        before, after = await grid.photo(headers, PNG), await grid.photo(headers, JPEG)
        reported = await grid.report(headers, photo_ids=[before])
        assert reported.status_code == 201, reported.text
        messages = await eventually(lambda: stream_messages(js, "MCC_INTAKE", "mcc.intake.reported"))
        attachments = json.loads(messages[0].data)["data"]["attachments"]
        assert attachments == [{"id": before, "content_type": "image/png", "size": len(PNG), "kind": "photo"}]
        store = AttachmentStore(tmp_path / "attachments")
        assert store.find(before)[0].read_bytes() == PNG and store.find(after)[0].read_bytes() == JPEG

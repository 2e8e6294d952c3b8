"""Photos reach the unit handling the order, and a close carries its evidence: attachments in scope and logged."""

from __future__ import annotations

import os

from shared.attachments import AttachmentStore
from shared.events.v1 import Attachment
from tests.support.dispatch import CITY_CENTRE, TOWN_A, TOWN_B, TZ_TOWN_A, accepted_incident

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(600)
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(300)


async def test_a_grid_photo_reaches_the_unit_that_handles_the_order_and_no_other(start_dispatch, tmp_path):
    store = AttachmentStore(tmp_path)
    photo = store.put(JPEG)  # as grid does when the app uploads it
    async with start_dispatch(attachment_dir=str(tmp_path)) as d:
        order = await d.incident(accepted_incident(town=TZ_TOWN_A, attachments=(Attachment(
            id=photo.id, content_type=photo.content_type, size=photo.size, kind="photo"),)))
        seen = (await d.client.get(f"/api/v1/orders/{order['number']}", headers=TOWN_A)).json()
        assert [(a["id"], a["kind"], a["content_type"]) for a in seen["attachments"]] == [
            (photo.id, "photo", "image/jpeg")]
        url = f"/api/v1/orders/{order['number']}/attachments/{photo.id}"
        got = await d.client.get(url, headers=TOWN_A)
        assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
        assert (await d.client.get(url, headers=TOWN_B)).status_code == 404  # another town's order: not there
        other = store.put(PNG)  # in the store, but not this order's
        assert (await d.client.get(f"/api/v1/orders/{order['number']}/attachments/{other.id}",
                                   headers=TOWN_A)).status_code == 404
        log = (await d.client.get("/api/v1/access-log", params={"order": order["number"]},
                                  headers=CITY_CENTRE)).json()
        assert ("town_dispatcher@" + TZ_TOWN_A, "attachment") in {(e["subject"], e["view"]) for e in log}

        board = await d.client.get(f"/board/orders/{order['number']}", headers=TOWN_A)
        board_url = f"/board/orders/{order['number']}/attachments/{photo.id}"
        assert board_url in board.text and "上报照片" in board.text
        assert (await d.client.get(board_url, headers=TOWN_A)).content == JPEG


async def test_a_close_carries_uploaded_evidence_within_the_size_and_type_limits(start_dispatch, tmp_path):
    async with start_dispatch(attachment_dir=str(tmp_path), attachment_max_bytes=1000) as d:
        order = await d.incident(accepted_incident(town=TZ_TOWN_A))
        too_big = await d.client.post("/api/v1/attachments", headers=TOWN_A,
                                      files={"file": ("big.jpg", JPEG + os.urandom(1000), "image/jpeg")})
        assert too_big.status_code == 413 and too_big.json()["detail"][0]["field"] == "file"
        not_a_photo = await d.client.post("/api/v1/attachments", headers=TOWN_A,
                                          files={"file": ("x.jpg", b"MZ\x90\x00 not an image", "image/jpeg")})
        assert not_a_photo.status_code == 415
        uploaded = await d.client.post("/api/v1/attachments", headers=TOWN_A,
                                       files={"file": ("after.png", PNG, "image/png")})
        assert uploaded.status_code == 201, uploaded.text
        evidence = uploaded.json()["evidence"]
        again = await d.client.post("/api/v1/attachments", headers=TOWN_A, files={"file": ("a.png", PNG, "image/png")})
        assert again.json()["id"] == uploaded.json()["id"]  # content-addressed: one file

        sign = await d.client.post(f"/api/v1/orders/{order['number']}/actions/sign", json={}, headers=TOWN_A)
        assert sign.status_code == 200
        unknown = await d.client.post(f"/api/v1/orders/{order['number']}/actions/close", headers=TOWN_A,
                                      json={"result": "已清运", "evidence": ["attachment:" + "0" * 64]})
        assert unknown.status_code == 422
        closed = await d.client.post(f"/api/v1/orders/{order['number']}/actions/close", headers=TOWN_A,
                                     json={"result": "已清运", "evidence": [evidence, "现场已清理"]})
        assert closed.status_code == 200, closed.text
        assert [(a["id"], a["kind"]) for a in closed.json()["attachments"]] == [(uploaded.json()["id"], "evidence")]
        read = await d.client.get(f"/api/v1/orders/{order['number']}/attachments/{uploaded.json()['id']}",
                                  headers=CITY_CENTRE)
        assert read.status_code == 200 and read.content == PNG


async def test_the_board_closes_an_order_with_a_photo_as_evidence_and_refuses_a_wrong_file(start_dispatch, tmp_path):
    async with start_dispatch(attachment_dir=str(tmp_path)) as d:
        order = await d.incident(accepted_incident(town=TZ_TOWN_A))
        await d.client.post(f"/api/v1/orders/{order['number']}/actions/sign", json={}, headers=TOWN_A)
        url = f"/board/orders/{order['number']}/actions/close"
        wrong = await d.client.post(url, headers=TOWN_A, data={"result": "已清运"},
                                    files={"evidence_file": ("x.txt", b"just text", "text/plain")})
        assert wrong.status_code == 422 and "JPEG" in wrong.text
        closed = await d.client.post(url, headers=TOWN_A, data={"result": "已清运"},
                                     files={"evidence_file": ("after.jpg", JPEG, "image/jpeg")})
        assert closed.status_code == 200 and "已办结" in closed.text
        photo = AttachmentStore(tmp_path).check(JPEG).id
        assert f"/board/orders/{order['number']}/attachments/{photo}" in closed.text and "办结依据" in closed.text

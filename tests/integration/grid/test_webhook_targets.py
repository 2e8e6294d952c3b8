"""Webhooks never reach this machine, link-local addresses or private networks (SSRF) unless the allow-list
setting names them: refused at registration, and again at delivery after DNS, connecting to the checked
address."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from services.grid.adapters.orm import Webhook
from services.grid.adapters.webhooks import HttpSender, TargetRefused
from services.grid.domain.webhook_targets import allow_list
from shared.events.envelope import utcnow
from tests.integration.grid.conftest import TOWN_A
from tests.support.polling import eventually

FORBIDDEN = ["http://127.0.0.1:8080/h", "http://localhost/h", "http://169.254.169.254/latest/meta-data",
             "http://10.1.2.3/h", "https://192.168.1.10/h", "http://[::1]/h", "http://0.0.0.0/h",
             "http://[::ffff:127.0.0.1]/h", "http://100.64.0.1/h"]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A real HTTP server on 127.0.0.1 that records each request and answers 204."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        seen.append(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


@pytest.mark.parametrize("url", FORBIDDEN)
async def test_a_webhook_to_a_loopback_link_local_or_private_address_is_refused_at_registration(start_grid, url):
    async with start_grid() as grid:
        await grid.key(TOWN_A)
        key_id = (await grid.client.get("/api/v1/admin/api-keys", headers=grid.admin)).json()[0]["id"]
        refused = await grid.client.put(f"/api/v1/admin/api-keys/{key_id}/webhook", headers=grid.admin,
                                        json={"url": url})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["field"] == "url"
        async with grid.runtime.uow() as uow:
            assert (await uow.session.execute(select(Webhook))).first() is None


async def test_the_allow_list_setting_admits_a_named_private_network(start_grid):
    async with start_grid(webhook_allow_networks="127.0.0.0/8, 10.0.0.0/8") as grid:
        await grid.key(TOWN_A)
        key_id = (await grid.client.get("/api/v1/admin/api-keys", headers=grid.admin)).json()[0]["id"]
        for url in ("http://127.0.0.1:8080/h", "http://10.1.2.3/h"):
            put = await grid.client.put(f"/api/v1/admin/api-keys/{key_id}/webhook", headers=grid.admin,
                                        json={"url": url})
            assert put.status_code == 200, put.text
        refused = await grid.client.put(f"/api/v1/admin/api-keys/{key_id}/webhook", headers=grid.admin,
                                        json={"url": "http://192.168.1.10/h"})
        assert refused.status_code == 422


async def test_delivery_checks_the_resolved_address_and_sends_nothing_to_a_refused_one(start_grid):
    async with receiver() as (port, seen), start_grid(webhook_poll_s=0.05) as grid:
        sender = HttpSender(timeout_s=5)
        with pytest.raises(TargetRefused, match="loopback"):
            await sender(f"http://localhost:{port}/h", b"{}", {"content-type": "application/json"})
        allowed = HttpSender(timeout_s=5, allowed=allow_list("127.0.0.0/8,::1/128"))
        assert await allowed(f"http://localhost:{port}/h", b'{"ok":1}', {"content-type": "application/json"})
        assert len(seen) == 1 and f"host: localhost:{port}".encode() in seen[0].lower() and seen[0].endswith(b'{"ok":1}')
        await sender.close()
        await allowed.close()

        # A hook whose name resolved elsewhere when it was registered (DNS rebinding) now points here.
        grid.app.state.webhook_send = HttpSender(timeout_s=5)
        headers = await grid.key(TOWN_A)
        key_id = (await grid.client.get("/api/v1/admin/api-keys", headers=grid.admin)).json()[0]["id"]
        async with grid.runtime.uow() as uow:
            uow.session.add(Webhook(key_id=key_id, url=f"http://localhost:{port}/h", secret="s" * 64, delivered_seq=0,
                                    created_at=utcnow()))
            await uow.commit()
        assert (await grid.report(headers)).status_code == 201

        async def failed() -> str | None:
            async with grid.runtime.uow() as uow:
                hook = await uow.session.get(Webhook, key_id)
                return hook.last_error if hook is not None and hook.failures else None

        assert "loopback" in await eventually(failed, timeout=20)
        assert len(seen) == 1  # nothing more reached the receiver

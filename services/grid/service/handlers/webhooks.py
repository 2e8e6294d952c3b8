"""Webhooks: a key's event changes pushed, signed, retried with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from services.grid.adapters.orm import Webhook
from services.grid.adapters.uow import GridUnitOfWork
from services.grid.adapters.webhooks import TargetRefused, checked_address
from services.grid.domain.webhook_targets import Network
from services.grid.service.handlers.views import _row, _view
from shared.errors import Invalid, NotFound
from shared.events.envelope import utcnow
from shared.scope import key_scope

SIGNATURE_HEADER = "X-Mcc-Signature"


TIMESTAMP_HEADER = "X-Mcc-Timestamp"


Send = Callable[[str, bytes, dict[str, str]], Awaitable[bool]]  # (url, body, headers) → delivered (2xx)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: what a receiver recomputes to trust a delivery."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


async def set_webhook(*, uow: GridUnitOfWork, key_id: str, url: str,
                      allowed: Sequence[Network] = ()) -> dict[str, Any]:
    """Push a key's event changes to `url`; answers the signing secret (shown this once). A URL whose host is,
    or resolves to, a loopback, link-local or private address outside `allowed` is refused (422); delivery
    checks again after resolving, so a name that does not resolve yet is taken."""
    try:
        await checked_address(url, allowed, unresolved_ok=True)
    except TargetRefused as exc:
        raise Invalid("url", str(exc), type="forbidden_target") from None
    async with uow:
        if not await uow.webhooks.active_key_exists(key_id):
            raise NotFound(f"有效密钥 {key_id} 不存在")
        secret = secrets.token_hex(32)
        hook = await uow.webhooks.get(key_id)
        # A new hook starts from now: the app has read what happened before through `since`.
        now_seq = await uow.grid_events.last_change()
        if hook is None:
            uow.webhooks.add(Webhook(key_id=key_id, url=url, secret=secret, delivered_seq=now_seq,
                                     created_at=utcnow()))
        else:
            hook.url, hook.secret, hook.failures, hook.next_attempt_at = url, secret, 0, None
        await uow.commit()
    return {"key_id": key_id, "url": url, "secret": secret, "signature_header": SIGNATURE_HEADER}


async def remove_webhook(*, uow: GridUnitOfWork, key_id: str) -> bool:
    """Stop pushing a key's changes."""
    async with uow:
        done = await uow.webhooks.remove(key_id)
        await uow.commit()
    return bool(done)


async def deliver_webhooks(*, new_uow: Callable[[], GridUnitOfWork], send: Send, limit: int = 100) -> int:
    """One round: each due hook gets the changes in its key's scope after what it last acknowledged.

    Reads in one short transaction, sends outside any transaction (a slow receiver never holds the
    database), then advances the hook only if no one else did meanwhile. Delivery is at least once: a
    receiver dedups by (event id, change_seq). Failures back off exponentially up to five minutes.
    """
    now = utcnow()
    async with new_uow() as uow:
        work = []
        for hook, scope in await uow.webhooks.due(now):
            events = [_view(_row(e)) for e in await uow.grid_events.changed_since(
                after=hook.delivered_seq, limit=limit, scope=key_scope(scope))]
            if events:
                work.append((hook.key_id, hook.url, hook.secret, hook.delivered_seq, hook.failures, events))
    delivered = 0
    for key_id, url, secret, seen, failures, events in work:
        body = json.dumps({"events": events, "cursor": events[-1]["change_seq"]}, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        try:
            ok, error = await send(url, body, {"content-type": "application/json", TIMESTAMP_HEADER: stamp,
                                              SIGNATURE_HEADER: sign(secret, stamp, body)}), None
        except Exception as exc:  # a receiver's failure is the receiver's: retry later
            ok, error = False, repr(exc)[:500]
        async with new_uow() as uow:
            values: dict[str, Any] = {"delivered_seq": events[-1]["change_seq"], "failures": 0,
                                      "next_attempt_at": None, "last_error": None} if ok else {
                "failures": failures + 1, "last_error": error or "receiver did not answer 2xx",
                "next_attempt_at": utcnow() + timedelta(seconds=min(300, 2 ** failures))}
            await uow.webhooks.advance(key_id, seen=seen, values=values)
            await uow.commit()
        delivered += len(events) if ok else 0
    return delivered

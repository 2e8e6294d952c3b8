"""Dead letters: what consumers gave up on, read back from stream MCC_DLQ and replayed to where they came from.

A replay publishes the original body and headers to the original subject, then deletes the dead letter.
It is safe to repeat and safe for events that were handled after all: consumers record each event id in
their inbox and ignore one they have seen, and every consumer of the subject sees the replay, so those that
had handled it ignore it. The replay's `Nats-Msg-Id` is the original's plus the dead letter's sequence:
the original id alone would be dropped by JetStream's duplicate window (2 h), and a replay repeated (a
crash between publish and delete) is dropped by it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.events.catalog import DEAD_LETTER_PREFIX

DLQ_STREAM = "MCC_DLQ"
REPLAY_HEADER = "Mcc-Replayed-From"


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter, by its sequence in MCC_DLQ (its id for `mcc dlq show|replay`)."""

    seq: int
    stream: str
    consumer: str
    subject: str
    reason: str
    deliveries: int
    failed_at: datetime | None
    payload: str
    headers: dict[str, str]

    @property
    def event_id(self) -> str | None:
        return self.headers.get("Nats-Msg-Id")

    @property
    def event_type(self) -> str | None:
        with contextlib.suppress(ValueError, AttributeError):
            return json.loads(self.payload).get("type")
        return None

    def summary(self) -> dict[str, Any]:
        return {"id": self.seq, "failed_at": self.failed_at.isoformat() if self.failed_at else None,
                "consumer": self.consumer, "subject": self.subject, "type": self.event_type,
                "event_id": self.event_id, "deliveries": self.deliveries, "reason": self.reason}

    def detail(self) -> dict[str, Any]:
        payload: Any = self.payload
        with contextlib.suppress(ValueError):
            payload = json.loads(self.payload)
        return {**self.summary(), "stream": self.stream, "headers": self.headers, "payload": payload}


def _parse(seq: int, data: bytes) -> DeadLetter:
    body = json.loads(data)["data"]
    failed = body.get("failed_at")
    return DeadLetter(seq=seq, stream=body["stream"], consumer=body["consumer"], subject=body["subject"],
                      reason=body["reason"], deliveries=int(body.get("deliveries") or 0),
                      failed_at=datetime.fromisoformat(failed) if failed else None, payload=body["payload"],
                      headers=dict(body.get("headers") or {}))


async def list_dead_letters(js: JetStreamContext, *, consumer: str | None = None,
                            limit: int | None = None) -> list[DeadLetter]:
    """Dead letters, oldest first (optionally one consumer's, at most `limit`)."""
    try:
        info = await js.stream_info(DLQ_STREAM)
    except NotFoundError:
        return []
    found: list[DeadLetter] = []
    if not info.state.messages:
        return found
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        letter = await get_dead_letter(js, seq)
        if letter is None or (consumer and letter.consumer != consumer):
            continue
        found.append(letter)
        if limit is not None and len(found) >= limit:
            break
    return found


async def get_dead_letter(js: JetStreamContext, seq: int) -> DeadLetter | None:
    """The dead letter with this id, or None (never was, or replayed and deleted)."""
    try:
        msg = await js.get_msg(DLQ_STREAM, seq)
    except NotFoundError:
        return None
    if not (msg.subject or "").startswith(f"{DEAD_LETTER_PREFIX}.") or msg.data is None:
        return None
    try:
        return _parse(seq, msg.data)
    except (ValueError, KeyError, TypeError):
        return None  # not one of ours: leave it alone


async def replay(js: JetStreamContext, letter: DeadLetter) -> None:
    """Publish the original message to its original subject again, then delete the dead letter."""
    headers = {k: v for k, v in letter.headers.items() if not k.startswith("Nats-Expected")}
    original = letter.event_id or f"dlq-{letter.seq}"
    headers["Nats-Msg-Id"] = f"{original}:replay:{letter.seq}"
    headers[REPLAY_HEADER] = f"{DLQ_STREAM}:{letter.seq}"
    await js.publish(letter.subject, letter.payload.encode("utf-8"), headers=headers, timeout=10)
    with contextlib.suppress(NotFoundError):
        await js.delete_msg(DLQ_STREAM, letter.seq)

"""The consuming half of the bus: durable pull consumers, retries, dead letters (see `shared.messaging`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError, ServerError
from pydantic import ValidationError

from shared import metrics
from shared.events.catalog import DEAD_LETTERED, EVENTS_BY_TYPE, dead_letter_subject
from shared.events.envelope import CloudEvent, RawCloudEvent, utcnow
from shared.events.v1 import DeadLettered
from shared.logs import bind_event
from shared.retry import backoff, is_transient

log = logging.getLogger("mcc.messaging")


class PoisonMessage(Exception):
    """The message can never be processed (malformed, unknown type, invalid data): dead-letter it now."""


def parse_event(payload: bytes) -> CloudEvent[Any]:
    """Decode a CloudEvent and check its data against the catalog's model for its type."""
    try:
        raw = RawCloudEvent.model_validate_json(payload)
    except (ValidationError, ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"not a CloudEvents 1.0 JSON envelope: {_short(exc)}") from exc
    spec = EVENTS_BY_TYPE.get(raw.type)
    if spec is None:
        raise PoisonMessage(f"unknown event type {raw.type!r}")
    try:
        data = spec.data_model.model_validate(raw.data)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid data for {raw.type}: {_short(exc)}") from exc
    return CloudEvent[Any].model_construct(**{**raw.model_dump(exclude={"data"}), "data": data})


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:10])
    return str(exc)[:500]


Handler = Callable[[CloudEvent[Any]], Awaitable[None]]
BatchHandler = Callable[[list[CloudEvent[Any]]], Awaitable[None]]


@dataclass
class ConsumerSpec:
    """A durable pull consumer on one stream; `subjects` filter it."""

    stream: str
    durable: str
    subjects: tuple[str, ...]
    handler: Handler
    batch: int = 100
    concurrency: int = 1
    # Optional: handle a whole fetched batch in one call (one transaction). If it raises, the batch is
    # handled again one message at a time through `handler`, so one bad message cannot hold up the rest.
    batch_handler: BatchHandler | None = None
    # Optional, with a batch handler: when a fetch brings fewer than `batch` (a trickle, one message a fetch),
    # wait this long and take what came meanwhile into the same batch: one transaction for several messages
    # instead of one each, at the cost of up to twice this in latency. 0 hands each fetch over as it is.
    gather_s: float = 0.0


class Consuming:
    """Bus's consumers: fetch, handle, retry, dead-letter. The attributes below are set by `Bus`."""

    js: JetStreamContext | None
    service: str
    max_deliver: int
    max_unfinished: int
    ack_wait_s: float
    retry_cap_s: float
    _retrying: dict[str, dict[int, float]]
    _stopping: asyncio.Event
    _inflight: int
    _idle: asyncio.Event
    _subscriptions: list[Any]

    async def _consume(self, spec: ConsumerSpec) -> None:
        assert self.js is not None
        config = ConsumerConfig(
            durable_name=spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            # Deliveries are bounded by us (dead letters for bugs and crash loops only), never by the server:
            # a message the server stops redelivering silently would be lost to everyone but an advisory.
            max_deliver=-1,
            max_ack_pending=max(1000, spec.batch * spec.concurrency * 2),
            filter_subjects=list(spec.subjects) if len(spec.subjects) > 1 else None,
            filter_subject=spec.subjects[0] if len(spec.subjects) == 1 else None,
        )
        sub = None
        while not self._stopping.is_set():
            try:
                if sub is None:
                    await self._ensure_consumer(spec, config)
                    sub = await self.js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
                    self._subscriptions.append(sub)
                msgs = await sub.fetch(spec.batch, timeout=1)
            except (TimeoutError, NatsTimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._stopping.is_set():
                    break
                log.warning("fetch failed; retrying", extra={"consumer": spec.durable, "error": repr(exc)})
                sub = None if isinstance(exc, NotFoundError) else sub
                await asyncio.sleep(0.5)
                continue
            self._inflight += 1
            self._idle.clear()
            keep_alive = asyncio.create_task(self._keep_alive(msgs), name=f"{spec.durable}-progress")
            try:
                if spec.gather_s > 0 and spec.batch_handler is not None and len(msgs) < spec.batch:
                    # In flight already, so a bus stopping meanwhile waits for their outcome; extended in
                    # place, so the keep-alive covers the gathered ones too.
                    msgs += await self._gather(spec, sub, spec.batch - len(msgs))
                if spec.batch_handler is not None and len(msgs) > 1:
                    msgs = await self._handle_batch(spec, msgs)
                for i, msg in enumerate(msgs):
                    if not await self._handle(spec, msg):
                        # Stopping while a dependency is down: give the rest back for the next process.
                        for rest in msgs[i + 1:]:
                            await _settle(rest.nak())
                        break
            except Exception as exc:
                # NATS went away mid-batch (a dead letter could not be published): what is unacked comes
                # back after ack_wait; the loop must live on.
                log.warning("batch interrupted; its unacked messages will be redelivered",
                            extra={"consumer": spec.durable, "error": repr(exc)})
            finally:
                keep_alive.cancel()
                self._inflight -= 1
                if self._inflight == 0:
                    self._idle.set()

    async def _gather(self, spec: ConsumerSpec, sub: Any, room: int) -> list[Msg]:
        """Up to `room` more messages that arrived within `spec.gather_s` (none if the bus is stopping). The
        server keeps routing new messages to this subscription's still-open pull, so they wait in its queue;
        the second fetch takes them, or asks the server once and gives up after `gather_s`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), spec.gather_s)
        if self._stopping.is_set():
            return []
        try:
            return await sub.fetch(room, timeout=spec.gather_s)  # type: ignore[no-any-return]
        except (TimeoutError, NatsTimeoutError):
            return []
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # what was fetched first is still handled; the next fetch meets the trouble
            log.warning("gathering more messages failed", extra={"consumer": spec.durable, "error": repr(exc)})
            return []

    async def _keep_alive(self, msgs: list[Msg]) -> None:
        """Tell JetStream the fetched messages are still being worked on while a retry waits."""
        while True:
            await asyncio.sleep(max(self.ack_wait_s / 3, 0.2))
            for msg in msgs:
                if not getattr(msg, "_ackd", False):
                    await _settle(msg.in_progress())

    async def _ensure_consumer(self, spec: ConsumerSpec, config: ConsumerConfig) -> None:
        """Create the durable consumer, or bring an existing one to this configuration."""
        assert self.js is not None
        try:
            await self.js.add_consumer(spec.stream, config)
        except (BadRequestError, ServerError) as exc:  # the server answers 500 to an update it refuses
            # It exists with a configuration the server will not change in place (an operator recreated it
            # from a restore time, say): keep it and its position, and say so. Its filter is still brought
            # to the catalog's, alone: a release that moved events to new subjects (partitioning by county)
            # must not leave a durable reading only the old ones. A plain difference of filter never gets
            # here; the server updates the durable itself.
            log.warning("consumer exists with a different configuration; using it as it is",
                        extra={"consumer": spec.durable, "error": repr(exc)})
            current = (await self.js.consumer_info(spec.stream, spec.durable)).config
            if set(current.filter_subjects or [current.filter_subject]) != set(spec.subjects):
                await self.js.add_consumer(spec.stream, current.evolve(
                    filter_subject=config.filter_subject, filter_subjects=config.filter_subjects))
                log.warning("consumer's filter brought to the catalog's",
                            extra={"consumer": spec.durable, "subjects": list(spec.subjects)})

    async def _handle_batch(self, spec: ConsumerSpec, msgs: list[Msg]) -> list[Msg]:
        """Handle the parseable, first-time-ok messages together; return those left for one-by-one handling."""
        assert spec.batch_handler is not None
        good: list[tuple[Msg, CloudEvent[Any]]] = []
        rest: list[Msg] = []
        for msg in msgs:
            deliveries = msg.metadata.num_delivered if msg.metadata else 1
            try:
                if deliveries > 1:
                    raise ValueError("redelivered")  # it failed before: handle it alone
                good.append((msg, parse_event(msg.data)))
            except Exception:
                rest.append(msg)
        if not good:
            return rest
        try:
            await spec.batch_handler([event for _, event in good])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("batch failed; handling its messages one by one",
                        extra={"consumer": spec.durable, "size": len(good), "error": repr(exc)})
            return [m for m, _ in good] + rest
        for msg, _ in good:
            await msg.ack()
        metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "processed").inc(len(good))
        return rest

    async def _handle(self, spec: ConsumerSpec, msg: Msg) -> bool:
        """Handle one message to its outcome; False if it was given back because the bus is stopping."""
        meta = msg.metadata
        deliveries = meta.num_delivered if meta else 1
        event_id = (msg.headers or {}).get("Nats-Msg-Id")
        with bind_event(event_id):
            if deliveries > self.max_unfinished:
                # Earlier deliveries never came back (the process died mid-handling, again and again).
                await self._dead_letter(spec, msg, deliveries, "delivered too often without an outcome")
                return True
            try:
                event = parse_event(msg.data)
            except PoisonMessage as exc:
                await self._dead_letter(spec, msg, deliveries, str(exc))
                return True
            waiting = self._retrying.setdefault(spec.durable, {})
            seq = meta.sequence.stream if meta else id(msg)
            attempt = 0
            try:
                while True:
                    try:
                        with bind_event(event.id):
                            await spec.handler(event)
                        break
                    except PoisonMessage as exc:
                        await self._dead_letter(spec, msg, deliveries, str(exc))
                        return True
                    except asyncio.CancelledError:
                        await _settle(msg.nak())
                        raise
                    except Exception as exc:
                        if not is_transient(exc):
                            await self._failed(spec, msg, deliveries, exc)
                            return True
                        attempt += 1
                        waiting.setdefault(seq, meta.timestamp.timestamp() if meta and meta.timestamp
                                           else time.time())
                        metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "waiting").inc()
                        if attempt == 1 or attempt % 10 == 0:
                            log.warning("a dependency is unavailable; retrying until it is back", extra={
                                "consumer": spec.durable, "attempt": attempt, "error": repr(exc)})
                        if self._stopping.is_set():
                            await _settle(msg.nak(delay=backoff(attempt, cap=self.retry_cap_s)))
                            return False
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stopping.wait(), backoff(attempt, cap=self.retry_cap_s))
            finally:
                waiting.pop(seq, None)
            await _settle(msg.ack())
            metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "processed").inc()
            return True

    async def _failed(self, spec: ConsumerSpec, msg: Msg, deliveries: int, exc: Exception) -> None:
        """A failure that is neither poison nor a dependency being away: a bug until shown otherwise."""
        if deliveries >= self.max_deliver:
            await self._dead_letter(spec, msg, deliveries, f"failed {deliveries} times: {exc!r}")
            return
        log.warning("handler failed; will retry", extra={
            "consumer": spec.durable, "deliveries": deliveries, "error": repr(exc)})
        metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "retried").inc()
        await _settle(msg.nak(delay=backoff(deliveries, cap=30.0)))

    async def _dead_letter(self, spec: ConsumerSpec, msg: Msg, deliveries: int, reason: str) -> None:
        meta = msg.metadata
        data = DeadLettered(
            stream=spec.stream, consumer=spec.durable, subject=msg.subject,
            stream_seq=meta.sequence.stream if meta else None, deliveries=deliveries, reason=reason,
            payload=msg.data.decode("utf-8", errors="replace")[:1_000_000],
            headers={k: str(v) for k, v in (msg.headers or {}).items()}, failed_at=utcnow(),
        )
        event = CloudEvent[DeadLettered](source=f"/mcc/{self.service}", type=DEAD_LETTERED.type,
                                         subject=msg.subject, data=data)
        # Dedup on stream+seq: redelivering the same poison never piles up copies in the DLQ.
        dedup_id = f"dlq:{spec.stream}:{spec.durable}:{data.stream_seq or event.id}"
        assert self.js is not None
        await self.js.publish(dead_letter_subject(spec.stream, spec.durable), event.to_json(),
                              headers={"Nats-Msg-Id": dedup_id}, timeout=5)
        await _settle(msg.term())
        metrics.EVENTS_DEAD_LETTERED.labels(self.service, spec.durable).inc()
        metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "dead_lettered").inc()
        log.error("message dead-lettered", extra={"consumer": spec.durable, "subject": msg.subject,
                                                   "reason": reason, "deliveries": deliveries})


async def _settle(ack: Awaitable[None]) -> None:
    """Send an ack, nak or progress; if NATS is away it is lost, and JetStream redelivers: the inbox dedupes."""
    try:
        await ack
    except Exception as exc:
        log.warning("could not settle a message; it will be redelivered", extra={"error": repr(exc)})

"""NATS JetStream: connection, idempotent stream set-up, publishing with Nats-Msg-Id, durable pull consumers.

Consumers ack only after the handler has committed. A handler raising `PoisonMessage` (or a message that
does not parse as a known CloudEvent) is dead-lettered at once; any other failure is nak'ed with a
growing delay and dead-lettered once it has been delivered `max_deliver` times. Dead letters go to
`mcc.dlq.<stream>.<consumer>` with the reason, the original body and headers; the consumer goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError

from shared import metrics
from shared.events.catalog import DEAD_LETTERED, EVENTS_BY_TYPE, STREAMS, StreamSpec, dead_letter_subject
from shared.events.envelope import CloudEvent, RawCloudEvent, utcnow
from shared.events.v1 import DeadLettered
from shared.logs import bind_event

log = logging.getLogger("mcc.messaging")


class PoisonMessage(Exception):
    """The message can never be processed (malformed, unknown type, invalid data): dead-letter it now."""


class TransientError(Exception):
    """Worth retrying later (a dependency is down); nak'ed with a delay."""


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


async def ensure_streams(js: JetStreamContext, streams: Sequence[StreamSpec] = STREAMS) -> None:
    """Create or update every stream; safe to call from every process at every start."""
    for spec in streams:
        config = StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            storage=StorageType.FILE,
            max_age=spec.max_age_days * 86400,
            duplicate_window=spec.duplicate_window_s,
            allow_msg_schedules=spec.allow_msg_schedules or None,
        )
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


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


class Bus:
    """One service's NATS connection, its publisher and its consumers."""

    def __init__(self, url: str, *, service: str, max_deliver: int = 5, ack_wait_s: float = 30.0) -> None:
        self.url = url
        self.service = service
        self.max_deliver = max_deliver
        self.ack_wait_s = ack_wait_s
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self.connected = asyncio.Event()
        self._consumers: list[ConsumerSpec] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._subscriptions: list[Any] = []
        self._reconnect_hooks: list[Callable[[], None]] = []

    def on_reconnect(self, hook: Callable[[], None]) -> None:
        """Call `hook` whenever the connection comes back (the outbox relay publishes at once)."""
        self._reconnect_hooks.append(hook)

    # -- connection ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect in the background (retrying forever), set up streams, start the consumers."""
        self._tasks.append(asyncio.create_task(self._connect_and_consume(), name=f"{self.service}-bus"))

    async def _connect_and_consume(self) -> None:
        delay = 0.2
        while not self._stopping.is_set():
            try:
                self.nc = await nats.connect(
                    servers=self.url.split(","),
                    name=f"mcc-{self.service}",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    allow_reconnect=True,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=self._on_reconnect,
                    error_cb=self._on_error,
                )
                self.js = self.nc.jetstream(timeout=5)
                await ensure_streams(self.js)
                break
            except Exception as exc:
                if self.nc is not None:
                    with contextlib.suppress(Exception):
                        await self.nc.close()
                    self.nc = None
                log.warning("NATS not reachable yet; retrying", extra={"error": repr(exc), "url": self.url})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self._stopping.is_set():
            return
        self.connected.set()
        log.info("connected to NATS", extra={"url": self.url})
        for hook in self._reconnect_hooks:
            hook()
        for spec in self._consumers:
            for i in range(spec.concurrency):
                self._tasks.append(asyncio.create_task(self._consume(spec), name=f"{spec.durable}-{i}"))

    async def _on_disconnect(self) -> None:
        log.warning("NATS disconnected")

    async def _on_reconnect(self) -> None:
        log.info("NATS reconnected")
        for hook in self._reconnect_hooks:
            hook()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("NATS error", extra={"error": repr(exc)})

    def is_ready(self) -> bool:
        return self.nc is not None and self.nc.is_connected and self.js is not None

    async def wait_connected(self, timeout: float = 30) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    # -- publishing ---------------------------------------------------------------------------------
    async def publish_raw(self, subject: str, payload: bytes, msg_id: str) -> None:
        """Publish and wait for JetStream's ack; the msg id makes a retry a no-op on the server."""
        if not self.is_ready():
            raise TransientError("NATS is not connected")
        assert self.js is not None
        await self.js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id}, timeout=5)
        metrics.EVENTS_PUBLISHED.labels(self.service, subject).inc()

    async def publish(self, subject: str, event: CloudEvent[Any]) -> None:
        await self.publish_raw(subject, event.to_json(), event.id)

    # -- consuming ----------------------------------------------------------------------------------
    def subscribe(self, spec: ConsumerSpec) -> None:
        """Register a durable consumer; it starts once NATS is connected."""
        self._consumers.append(spec)

    async def _consume(self, spec: ConsumerSpec) -> None:
        assert self.js is not None
        config = ConsumerConfig(
            durable_name=spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            # Deliveries are bounded by us (dead-letter at max_deliver), not by the server: a message the
            # server stops redelivering silently would be lost to everyone but an advisory.
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
            try:
                if spec.batch_handler is not None and len(msgs) > 1:
                    msgs = await self._handle_batch(spec, msgs)
                for msg in msgs:
                    await self._handle(spec, msg)
            finally:
                self._inflight -= 1
                if self._inflight == 0:
                    self._idle.set()

    async def _ensure_consumer(self, spec: ConsumerSpec, config: ConsumerConfig) -> None:
        """Create the durable consumer, or bring an existing one to this configuration."""
        assert self.js is not None
        try:
            await self.js.add_consumer(spec.stream, config)
        except BadRequestError as exc:
            # It exists with another configuration (an older release's): keep it and its position, and
            # say so; changing a durable's filter is a deliberate operation (nats consumer edit).
            log.warning("consumer exists with a different configuration; using it as it is",
                        extra={"consumer": spec.durable, "error": repr(exc)})

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

    async def _handle(self, spec: ConsumerSpec, msg: Msg) -> None:
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        event_id = (msg.headers or {}).get("Nats-Msg-Id")
        with bind_event(event_id):
            if deliveries > self.max_deliver:
                # Earlier deliveries never came back (the process died mid-handling): stop here.
                await self._dead_letter(spec, msg, deliveries, "delivered too often without an outcome")
                return
            try:
                event = parse_event(msg.data)
                with bind_event(event.id):
                    await spec.handler(event)
            except PoisonMessage as exc:
                await self._dead_letter(spec, msg, deliveries, str(exc))
                return
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await msg.nak()
                raise
            except Exception as exc:
                if deliveries >= self.max_deliver:
                    await self._dead_letter(spec, msg, deliveries, f"failed {deliveries} times: {exc!r}")
                else:
                    delay = min(0.5 * 2 ** (deliveries - 1), 30.0)
                    log.warning("handler failed; will retry", extra={
                        "consumer": spec.durable, "deliveries": deliveries, "error": repr(exc)})
                    metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "retried").inc()
                    await msg.nak(delay=delay)
                return
            await msg.ack()
            metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "processed").inc()

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
        await msg.term()
        metrics.EVENTS_DEAD_LETTERED.labels(self.service, spec.durable).inc()
        metrics.EVENTS_CONSUMED.labels(self.service, spec.durable, "dead_lettered").inc()
        log.error("message dead-lettered", extra={"consumer": spec.durable, "subject": msg.subject,
                                                   "reason": reason, "deliveries": deliveries})

    async def consumer_lag(self) -> dict[str, int]:
        """Messages not yet delivered plus delivered but not acked, per consumer."""
        lag: dict[str, int] = {}
        if not self.is_ready():
            return lag
        assert self.js is not None
        for spec in self._consumers:
            with contextlib.suppress(Exception):
                info = await self.js.consumer_info(spec.stream, spec.durable)
                lag[spec.durable] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        return lag

    # -- shutdown -----------------------------------------------------------------------------------
    async def stop(self, timeout: float = 10) -> None:
        """Stop fetching, let in-flight messages finish, then drain the connection."""
        self._stopping.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # Pull subscriptions hold nothing in flight now; unsubscribing them first keeps drain() from
        # waiting on their internal queues, so drain only flushes what we published.
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subscriptions.clear()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), timeout)
            with contextlib.suppress(Exception):
                await self.nc.close()

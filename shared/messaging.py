"""NATS JetStream: connection, idempotent stream set-up, publishing with Nats-Msg-Id, durable pull consumers.

Consumers ack only after the handler has committed. What happens to a message whose handler fails:

- a dependency is unavailable (`TransientError`, a refused connection, a timeout, a locked or restarting
  database: see `shared.retry.is_transient`): retried in this same delivery with capped exponential backoff
  for as long as it takes, the delivery kept alive with `in_progress()`; never dead-lettered. Retrying in
  place (rather than nak'ing) keeps JetStream's delivery count for what it means: deliveries whose outcome
  nobody saw. The age of the oldest message being retried is the gauge `mcc_consumer_retry_oldest_seconds`.
- it can never succeed (`PoisonMessage`, or it does not parse as a known CloudEvent): dead-lettered at once.
- anything else is a bug until shown otherwise: nak'ed with a growing delay and dead-lettered on its
  `max_deliver`-th delivery, so one bad message cannot hold up its consumer forever.
- delivered more than `max_unfinished` times (earlier deliveries never came back: the process died while
  handling it, again and again): dead-lettered, so a message that crashes its consumer stops doing so.

Dead letters go to `mcc.dlq.<stream>.<consumer>` with the reason, the original body and headers; the
consumer goes on. `mcc dlq` lists, shows and replays them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from shared import metrics
from shared.consuming import BatchHandler, ConsumerSpec, Consuming, Handler, PoisonMessage, parse_event
from shared.events.catalog import STREAMS, StreamSpec
from shared.events.envelope import CloudEvent
from shared.retry import TransientError

__all__ = ["BatchHandler", "Bus", "ConsumerSpec", "Handler", "PoisonMessage", "TransientError", "ensure_streams",
           "parse_event"]

log = logging.getLogger("mcc.messaging")


async def ensure_streams(js: JetStreamContext, streams: Sequence[StreamSpec] = STREAMS, *,
                         replicas: int = 1) -> None:
    """Create or update every stream; safe to call from every process at every start. `replicas` > 1
    needs a JetStream cluster of at least that many servers (an existing stream is scaled up in place)."""
    for spec in streams:
        config = StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            storage=StorageType.FILE,
            max_age=spec.max_age_days * 86400,
            duplicate_window=spec.duplicate_window_s,
            allow_msg_schedules=spec.allow_msg_schedules or None,
            num_replicas=replicas,
        )
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


class Bus(Consuming):
    """One service's NATS connection, its publisher and its consumers."""

    def __init__(self, url: str, *, service: str, max_deliver: int = 5, ack_wait_s: float = 30.0,
                 max_unfinished: int = 20, retry_cap_s: float = 10.0, stream_replicas: int = 1) -> None:
        self.url = url
        self.stream_replicas = stream_replicas
        self.service = service
        self.max_deliver = max_deliver
        self.max_unfinished = max(max_unfinished, max_deliver)
        self.ack_wait_s = ack_wait_s
        self.retry_cap_s = retry_cap_s
        # consumer → {stream sequence: when the message entered the stream} for messages waiting out a
        # dependency right now; read at scrape time by the retry-age gauge.
        self._retrying: dict[str, dict[int, float]] = {}
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
                await ensure_streams(self.js, replicas=self.stream_replicas)
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
        waiting = self._retrying.setdefault(spec.durable, {})
        metrics.CONSUMER_RETRY_OLDEST.labels(self.service, spec.durable).set_function(
            lambda: time.time() - min(waiting.values()) if waiting else 0.0)

    def retrying(self, consumer: str) -> int:
        """How many messages `consumer` is waiting to retry (a dependency is down)."""
        return len(self._retrying.get(consumer, {}))

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
    async def stop_consuming(self, timeout: float = 10) -> None:
        """Stop fetching and let in-flight messages finish; publishing still works (the relay flushes)."""
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

    async def stop(self, timeout: float = 10) -> None:
        """Stop consuming, then drain and close the connection."""
        await self.stop_consuming(timeout)
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), timeout)
            with contextlib.suppress(Exception):
                await self.nc.close()

"""The timer loop: fires due warnings and escalations from the database, and keeps the tree current.

Why a database poller and not Redis or JetStream scheduling: the deadline already lives in the order row, in
the same transaction as every transition, so there is one source of truth and nothing to keep in step. A
Redis restart or a nats-server restart loses nothing (events wait in the outbox), a killed dispatch loses
nothing (the next poll of any process finds the overdue rows: the poll *is* the sweeper), and two processes
share the work through FOR UPDATE SKIP LOCKED. The cost is one indexed query per poll interval
(`MCC_DISPATCH_TIMER_POLL_S`), which also bounds the firing lag.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.dispatch.config import DispatchSettings
from services.dispatch.service import handlers
from shared.runtime import Runtime

log = logging.getLogger("mcc.dispatch.timers")
GAUGE_EVERY_S = 15.0
PRUNE_EVERY_S = 3600.0


class TimerLoop:
    """Two jobs: the firing loop, which does nothing but fire, and housekeeping beside it (the tree's version,
    the gauges, the access log's pruning). Apart because the gauges count every open order: with 100,000 of
    them a refresh takes seconds, and inside the firing loop it held every due escalation back that long."""

    def __init__(self, runtime: Runtime, holder: handlers.PolicyHolder, settings: DispatchSettings) -> None:
        self.runtime, self.holder, self.settings = runtime, holder, settings
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self.run(), name="dispatch-timers"),
                       asyncio.create_task(self.housekeeping(), name="dispatch-housekeeping")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self) -> None:
        while True:
            try:
                fired = await handlers.fire_due_timers(uow=self.runtime.uow(), holder=self.holder,
                                                       batch=self.settings.timer_batch)
                if fired:
                    continue  # more may be due: keep going without waiting
            except Exception:  # a loop that must outlive a pass: the database may be briefly away (cancel still stops it)
                log.exception("timer pass failed")
            await asyncio.sleep(self.settings.timer_poll_s)

    async def housekeeping(self) -> None:
        next_topology = next_gauges = 0.0
        next_prune = time.monotonic() + 60
        while True:
            now = time.monotonic()
            try:
                if now >= next_topology:
                    next_topology = now + self.settings.topology_poll_s
                    await self.reload_topology()
                if now >= next_gauges:
                    next_gauges = now + GAUGE_EVERY_S
                    await handlers.refresh_gauges(uow=self.runtime.uow())
                if now >= next_prune:
                    next_prune = now + PRUNE_EVERY_S
                    await handlers.prune_access_log(uow=self.runtime.uow(),
                                                    older_than_days=self.settings.access_log_days)
            except Exception:  # the same: a pass that failed is tried again at its next turn
                log.exception("timer housekeeping failed")
            await asyncio.sleep(max(0.05, min(next_topology, next_gauges, next_prune) - time.monotonic()))

    async def reload_topology(self) -> None:
        """Pick up a tree another process changed (the admin API bumps the topology version)."""
        org, version = await handlers.load_org(uow=self.runtime.uow(), unless_version=self.holder.topology_version)
        if org is not None and version != self.holder.topology_version:
            self.holder.policy = self.holder.policy.with_org(org)
            self.holder.topology_version = version
            log.info("topology reloaded", extra={"version": version, "units": len(org)})

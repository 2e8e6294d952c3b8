"""The outbox relay: publishes committed outbox rows to JetStream and deletes them once acknowledged.

Two ways in, one task, so a process's events reach the stream in the order it committed them:
- direct: after a commit the unit of work hands the relay the rows it wrote (`Outbox.committed`). The relay
  publishes them pipelined in FIFO order and deletes the acknowledged ids in one statement outside any
  transaction (PostgreSQL autocommit; SQLite a short one); while more commits are queued it publishes those
  first and deletes the acks of several commits at once. The table is not read.
- sweep: a read of the table in write order for the rows nobody handed over: an earlier process's (killed
  between commit and publish), another process's, those whose publish failed or whose queued copy was
  dropped. It runs at start, after any failure and when nudged; then the queue is refused until the sweep
  has begun, so no row committed later overtakes one that waits in the table. Between those, each poll
  looks only for rows older than `sweep_age_s`: younger ones are some relay's direct path at work, and
  sweeping them would publish them twice for nothing.

A row published twice anyway (a relay killed between ack and delete, a sweep racing another process) is
dropped by JetStream's duplicate window on its `Nats-Msg-Id` and, past it, by the consumers' inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from shared.db import one_of
from shared.events.envelope import utcnow
from shared.outbox import Outbox

log = logging.getLogger("mcc.outbox")

Publish = Callable[[str, bytes, str], Awaitable[None]]  # (subject, payload, msg_id): returns once acked
# (subject, payload, msg_id): sends the message and returns a future that resolves with the server's ack.
StartPublish = Callable[[str, bytes, str], Awaitable["asyncio.Future[Any]"]]


def pipelined(publish: Publish) -> StartPublish:
    """A start-publish function from one that awaits its ack (tests, other transports): one task each."""

    async def start(subject: str, payload: bytes, msg_id: str) -> asyncio.Future[Any]:
        return asyncio.ensure_future(publish(subject, payload, msg_id))

    return start


def jetstream_publisher(bus: Any) -> StartPublish:
    """Pipelined JetStream publishes on a Bus's connection (`publish_async`): each message goes out at
    once, in order, with `Nats-Msg-Id`, and its ack arrives on a future; no task and no round trip each."""

    async def start(subject: str, payload: bytes, msg_id: str) -> asyncio.Future[Any]:
        if not bus.is_ready():
            raise ConnectionError("NATS is not connected")
        # No wait_stall: with one, nats-py waits for its flow-control slot in a task of its own, which yields to
        # the loop after every message, so its flusher wrote each message in a syscall of its own. A relay round
        # holds at most batch_size (1,000) publishes, under nats-py's 4,000: the slot is never waited for.
        return await bus.js.publish_async(subject, payload, headers={"Nats-Msg-Id": msg_id}, wait_stall=None)

    return start


class OutboxRelay:
    """Publishes committed outbox rows, a whole batch in flight; deletes them once acknowledged.

    A batch is sent in order without waiting in between, so the stream stores one aggregate's events in the
    order they were committed; then the relay waits for all the acks (at most `ack_timeout_s`). A row whose
    ack did not come stays in the table, and the sweep sends it again with the same `Nats-Msg-Id`, which
    JetStream drops if the first copy did arrive.
    """

    def __init__(self, outbox: Outbox, sessions: async_sessionmaker[AsyncSession], publish: Publish | None = None,
                 *, start_publish: StartPublish | None = None, batch_size: int = 1000, poll_s: float = 1.0,
                 ack_timeout_s: float = 10.0, sweep_age_s: float = 5.0,
                 on_published: Callable[[str], None] | None = None):
        if (publish is None) == (start_publish is None):
            raise TypeError("give either publish or start_publish")
        self.outbox = outbox
        self.sessions = sessions
        self.start_publish = start_publish or pipelined(publish)  # type: ignore[arg-type]
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.ack_timeout_s = ack_timeout_s
        self.sweep_age_s = sweep_age_s
        self.on_published = on_published
        self._stopping = asyncio.Event()
        self._reset_backoff = False
        self.healthy = True
        self._acked: list[str] = []  # published by the direct path, not yet deleted
        self._last_read = 0  # rows the last sweep read, queued ones included
        # PostgreSQL: the direct path's DELETE and a poll's question run outside a transaction (no BEGIN,
        # no COMMIT); SQLite's own transactions cost no round trip.
        engine = sessions.kw.get("bind")
        self._autocommit = engine if engine is not None and engine.dialect.name == "postgresql" else None
        self._conn: AsyncConnection | None = None
        # PostgreSQL: `id = ANY(:ids)`, one array: one statement prepared once whatever the number of ids (an
        # IN list is rendered afresh on every call, and is a new prepared statement for every length).
        self._delete_any = delete(outbox.table).where(one_of(outbox.table.c.id, "ids", "postgresql"))

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.poll_s
        catching_up = True  # the table may hold rows nobody queued (an earlier process's)
        next_poll = loop.time() + self.poll_s
        while not self._stopping.is_set():
            more = False
            try:
                if catching_up or not self.outbox.accepting or self.outbox.sweep_asked():
                    # Queue from now on: whatever was committed before is in the table for this sweep, which
                    # runs before anything queued is published.
                    self.outbox.accept()
                    catching_up = more = self._more(await self.relay_once())
                elif loop.time() >= next_poll:
                    next_poll = loop.time() + self.poll_s
                    # Most polls find nothing: one question (PostgreSQL) instead of the locking read.
                    if await self._rows_waiting():
                        more = self._more(await self.relay_once(min_age_s=self.sweep_age_s))
                elif self.outbox.queue:
                    await self.relay_queued()
                self.healthy = True
                backoff = self.poll_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, DB busy: rows stay in the table, try again later
                self.healthy = False
                self.outbox.refuse()  # queued copies go; the catch-up sweep publishes them in write order
                catching_up = True
                log.warning("outbox relay failed; will retry", extra={"error": repr(exc)})
                backoff = min(backoff * 2, 5.0)
            if self.healthy and (more or self.outbox.queue):
                continue
            if self.healthy:
                await self.outbox.wait(max(0.0, next_poll - loop.time()))
            else:  # back off: commits may not hurry it (NATS coming back, a nudge and stop may)
                deadline = loop.time() + backoff
                while not (self._stopping.is_set() or self._reset_backoff or self.outbox.sweep_pending) \
                        and loop.time() < deadline:
                    await self.outbox.wait(deadline - loop.time())
            if self._reset_backoff:
                self._reset_backoff, backoff = False, self.poll_s
        # Stopping: publish what the last handlers committed rather than leave it to the next start's sweep.
        with contextlib.suppress(Exception):
            while self.healthy and not catching_up and self.outbox.queue:
                await self.relay_queued()
            await self._flush()

    @contextlib.asynccontextmanager
    async def _outside_transaction(self) -> AsyncIterator[AsyncConnection]:
        """The relay's own autocommit connection, kept from round to round: checking one out of the pool and
        setting and resetting its isolation level each time cost more CPU than the DELETE. Dropped on any error
        (a server restart, a cancelled round), and a fresh one taken next time."""
        assert self._autocommit is not None
        if self._conn is None:
            conn = await self._autocommit.connect()
            try:
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            except BaseException:
                await conn.close()
                raise
        try:
            yield self._conn
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Give back the relay's connection (`run` does on its way out)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def _more(self, sent: int) -> bool:
        """Whether a sweep that published `sent` rows should read again at once (its batch was full)."""
        return sent > 0 and self._last_read == self.batch_size

    async def _rows_waiting(self) -> bool:
        """Whether the outbox holds a row older than `sweep_age_s`, asked in one round trip outside a
        transaction (PostgreSQL). SQLite answers True: the relay's own read is as cheap in-process."""
        if self._autocommit is None:
            return True
        table = self.outbox.table
        cutoff = utcnow() - timedelta(seconds=self.sweep_age_s)
        async with self._outside_transaction() as conn:
            return (await conn.execute(select(table.c.id).where(table.c.created_at < cutoff).limit(1))).first() \
                is not None

    def stop(self) -> None:
        self._stopping.set()
        self.outbox.nudge()

    def wake(self) -> None:
        """Try again now (NATS is back), whatever the backoff said."""
        self._reset_backoff = True
        self.outbox.nudge()

    async def relay_queued(self) -> int:
        """Publish one batch of the rows handed over after their commit; returns how many were acknowledged.

        Their ids are deleted in one statement once the queue is empty (or a batch's worth waits), so under
        load one DELETE covers the acks of many commits. Raises if any failed: those stay in the table."""
        rows = self.outbox.take(self.batch_size)
        done, failed = await self._publish(rows)
        self._acked.extend(done)
        self._count(rows, done)
        if failed or not self.outbox.queue or len(self._acked) >= self.batch_size:
            await self._flush(failed)
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(rows)} outbox events not published: {failed[0][1]!r}")
        return len(done)

    async def _flush(self, failed: Sequence[tuple[str, BaseException]] = ()) -> None:
        """Delete the acknowledged ids in one statement and note the failures, outside a transaction."""
        done, self._acked = self._acked, []
        if not done and not failed:
            return
        try:
            if self._autocommit is not None:
                async with self._outside_transaction() as conn:
                    await self._settle(conn, done, failed)
            else:
                async with self.sessions() as session:
                    await self._settle(session, done, failed)
                    await session.commit()
        except BaseException:
            self._acked[:0] = done  # deleted later rather than published again by the sweep
            raise

    async def relay_once(self, *, min_age_s: float | None = None) -> int:
        """Sweep: publish one batch of the table's rows (those older than `min_age_s` if given) that are not
        queued for the direct path; returns how many were published and removed."""
        await self._flush()  # a row acknowledged already is not swept again
        table = self.outbox.table
        query = select(table.c.id, table.c.subject, table.c.payload).order_by(
            table.c.created_at, table.c.seq).limit(self.batch_size)
        if min_age_s is not None:
            query = query.where(table.c.created_at < utcnow() - timedelta(seconds=min_age_s))
        async with self.sessions() as session:
            on_postgres = session.bind.dialect.name == "postgresql"
            if on_postgres:
                # Two relays (two processes of a service) take disjoint batches; row locks block no writer.
                rows = self._unqueued((await session.execute(query.with_for_update(skip_locked=True))).all())
                done, failed = await self._publish(rows)
                await self._settle(session, done, failed)
                if done or failed:  # an empty poll ends in a rollback: nothing to make durable
                    await session.commit()
            else:
                rows = self._unqueued((await session.execute(query)).all())
        if not on_postgres:
            # SQLite's transactions take the database's write lock: never hold it while waiting for
            # JetStream. Read, publish, then settle in a second short transaction.
            done, failed = await self._publish(rows)
            if done or failed:
                async with self.sessions() as settle:
                    await self._settle(settle, done, failed)
                    await settle.commit()
        self._count(rows, done)
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(rows)} outbox events not published: {failed[0][1]!r}")
        return len(done)

    def _unqueued(self, rows: Sequence[Any]) -> Sequence[Any]:
        """The rows read, less those the direct path is about to publish."""
        self._last_read = len(rows)
        if not self.outbox.queue:
            return rows
        queued = {q.id for q in self.outbox.queue}
        return [r for r in rows if r.id not in queued]

    def _count(self, rows: Sequence[Any], done: list[str]) -> None:
        if self.on_published and done:
            published = set(done)
            for row in rows:
                if row.id in published:
                    self.on_published(row.subject)

    async def _publish(self, rows: Sequence[Any]) -> tuple[list[str], list[tuple[str, BaseException]]]:
        """Send every row in order, then wait for their acks together; (acked ids, failures)."""
        futures: list[asyncio.Future[Any]] = []
        failed: list[tuple[str, BaseException]] = []
        for n, row in enumerate(rows):
            try:
                futures.append(await self.start_publish(row.subject, row.payload, row.id))
            except Exception as exc:  # not even sent (NATS gone): the rest of the batch waits for next time
                failed.extend((r.id, exc) for r in rows[n:])
                break
        if futures:
            _, pending = await asyncio.wait(futures, timeout=self.ack_timeout_s)
            for future in pending:
                future.cancel()
        done: list[str] = []
        for row, future in zip(rows, futures, strict=False):
            exc = TimeoutError("no JetStream ack in time") if future.cancelled() else future.exception()
            if exc is None:
                done.append(row.id)
            else:
                failed.append((row.id, exc))
        return done, failed

    async def _settle(self, conn: Any, done: list[str], failed: Sequence[tuple[str, BaseException]]) -> None:
        """Delete the published rows and count the failures (a session or a connection; the caller commits)."""
        table = self.outbox.table
        if done and self._autocommit is not None:
            await conn.execute(self._delete_any, {"ids": done})
        elif done:
            await conn.execute(delete(table).where(table.c.id.in_(done)))
        for row_id, exc in failed[:50]:
            await conn.execute(table.update().where(table.c.id == row_id).values(
                attempts=table.c.attempts + 1, last_error=repr(exc)[:1000]))

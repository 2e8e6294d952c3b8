"""A value kept at its source's version: the one way a service holds a copy of something another service owns
(grid's registry in intake, grid's outlines in dispatch's city map, dispatch's organisation tree in intake and
hotline).

The source answers a cheap version (a number) and, when asked, the whole snapshot with the version it belongs
to. A follower polls the version as a background job of the runtime, fetches the snapshot only when the version
moves (rare: an import, an admin edit), optionally stores it (so a restart while the source is down serves the
last copy) and installs the value built from it (off the event loop: building a grid index takes a second).
Requests read `follower.value` and never wait for the source; while the source is away the copy at hand stays,
and the follower says so once in the log, not once a poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import httpx

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("mcc.snapshots")

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """What a source answers as a whole: its version and the payload (JSON-shaped) that belongs to it."""
    version: int
    payload: Any


class SnapshotSource(Protocol):
    async def version(self) -> int:
        """The source's current version: a few bytes, cheap enough to ask every few seconds."""

    async def snapshot(self) -> Snapshot:
        """The whole payload and the version it belongs to."""


class SnapshotStore(Protocol):
    async def load(self) -> Snapshot | None:
        """The snapshot stored last, if any."""

    async def save(self, snapshot: Snapshot) -> None:
        """Keep this snapshot in place of the one stored (the source's answer wins even when its version went
        back: a source rebuilt from scratch restarts its numbering)."""


class Follower(Generic[T]):
    """`value` built from the source's latest snapshot, and the `version` it was built from (None: nothing yet).

    `build` turns a payload into the value served (run in a thread); `store`, when given, is written before a
    snapshot is served and read at start, so what this process served survives a restart during an outage.
    `waiting_poll_s` is how soon to ask again while there is nothing to serve at all, and `waiting` what that
    means for the service (logged with the first failure).
    """

    def __init__(self, name: str, *, source: SnapshotSource, build: Callable[[Any], T], poll_s: float,
                 store: SnapshotStore | None = None, waiting_poll_s: float = 0.5, waiting: str = "") -> None:
        self.name, self.source, self.build, self.store, self.waiting = name, source, build, store, waiting
        self.poll_s, self.waiting_poll_s = poll_s, waiting_poll_s
        self.value: T | None = None
        self.version: int | None = None
        self.failing = False  # the last poll did not reach the source (or the store)
        self._task: asyncio.Task[None] | None = None

    async def install(self, snapshot: Snapshot) -> None:
        """Serve this snapshot from now on."""
        value = await asyncio.to_thread(self.build, snapshot.payload)
        self.value, self.version = value, snapshot.version
        log.info("%s installed", self.name, extra={"snapshot": self.name, "version": snapshot.version})

    async def load_stored(self) -> bool:
        """Install the stored snapshot, if any (at start, before the source is asked)."""
        stored = await self.store.load() if self.store is not None else None
        if stored is None:
            return False
        await self.install(stored)
        return True

    async def refresh(self) -> bool:
        """Fetch, store and install the source's snapshot if its version differs from ours; True if it did."""
        if self.version is not None and await self.source.version() == self.version:
            return False
        snapshot = await self.source.snapshot()
        if snapshot.version == self.version:
            return False
        if self.store is not None:  # stored before it is served: a restart finds what this process served
            await self.store.save(snapshot)
        await self.install(snapshot)
        return True

    async def poll_once(self) -> None:
        """One round of `follow`: a source (or store) away is no error, the copy at hand stays."""
        try:
            await self.refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.failing:
                held = "serving the copy at hand" if self.version is not None else (
                    f"nothing to serve yet: {self.waiting}" if self.waiting else "nothing to serve yet")
                log.warning("%s not refreshed (%s); asking again", self.name, held,
                            extra={"snapshot": self.name, "version": self.version, "error": repr(exc)[:300]})
            self.failing = True
            return
        if self.failing:
            log.info("%s reachable again", self.name, extra={"snapshot": self.name, "version": self.version})
        self.failing = False

    async def follow(self) -> None:
        """Keep the value at the source's version for as long as the process runs."""
        while True:
            await self.poll_once()
            await asyncio.sleep(self.poll_s if self.version is not None else min(self.poll_s, self.waiting_poll_s))

    async def start(self, runtime: Runtime) -> None:
        """Install the stored copy, then follow the source as one of the runtime's background jobs (stopped,
        with the others, when the runtime stops)."""
        try:
            await self.load_stored()
        except Exception as exc:  # an unreadable copy is no reason not to start: the source is asked next
            log.warning("%s: stored copy not loaded", self.name, extra={"snapshot": self.name, "error": repr(exc)})
        self._task = runtime.spawn(self.follow(), name=f"{runtime.service}-{self.name}")

    async def stop(self) -> None:
        """Stop following now (before the clients it uses are closed); the value stays readable."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class Fixed(Generic[T]):
    """A value that never moves (tests, or a deployment that configures it by hand): the follower's reading
    side, nothing to start."""

    def __init__(self, value: T) -> None:
        self.value: T | None = value
        self.version: int | None = 0

    async def start(self, runtime: Runtime) -> None:
        return None

    async def stop(self) -> None:
        return None


class HttpSource:
    """A snapshot source over HTTP: `GET version_path` answers `{"version": n}`, `GET snapshot_path` answers
    `{"version": n, <payload_key>: …}` (grid's registry feed, dispatch's organisation tree)."""

    def __init__(self, base_url: str, *, version_path: str, snapshot_path: str, payload_key: str,
                 transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 30.0) -> None:
        self.version_path, self.snapshot_path, self.payload_key = version_path, snapshot_path, payload_key
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport, timeout=timeout_s)

    async def _get(self, path: str) -> Any:
        return (await self.client.get(path)).raise_for_status().json()

    async def version(self) -> int:
        return int((await self._get(self.version_path))["version"])

    async def snapshot(self) -> Snapshot:
        body = await self._get(self.snapshot_path)
        return Snapshot(int(body["version"]), body[self.payload_key])

    async def close(self) -> None:
        await self.client.aclose()

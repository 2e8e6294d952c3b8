"""Hotline's copy of dispatch's organisation tree (the console's unit names, the places an address is matched
to), kept at dispatch's version by the shared follower and stored in hotline's database, so a restart while
dispatch is down still names units and places addresses with the tree it had (as intake's does)."""

from __future__ import annotations

from collections.abc import Callable

from services.hotline.adapters import org_store
from shared import orgchart
from shared.events.envelope import utcnow
from shared.snapshots import Follower, Snapshot, SnapshotSource
from shared.uow import UnitOfWork


class _StoredTree:
    """Hotline's database as the follower's store."""

    def __init__(self, new_uow: Callable[[], UnitOfWork]) -> None:
        self.new_uow = new_uow

    async def load(self) -> Snapshot | None:
        async with self.new_uow() as uow:
            row = await org_store.latest(uow.session)
        return None if row is None else Snapshot(row.version, row.units)

    async def save(self, snapshot: Snapshot) -> None:
        async with self.new_uow() as uow:
            await org_store.replace(uow.session, version=snapshot.version, units=snapshot.payload,
                                    fetched_at=utcnow())
            await uow.commit()


def follower(*, source: SnapshotSource, new_uow: Callable[[], UnitOfWork], poll_s: float
             ) -> Follower[orgchart.OrgChart]:
    """The job keeping hotline's tree at dispatch's version, stored before it is served."""
    return orgchart.follower(source, poll_s=poll_s, store=_StoredTree(new_uow))

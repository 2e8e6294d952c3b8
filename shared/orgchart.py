"""The organisation tree as the services that do not own it see it: unit names (Open311's agency_responsible,
the console's located units) and the places an address is matched against. Dispatch owns the tree and serves it
with its version (`GET /api/v1/org/tree`, `GET /api/v1/org/version`); intake and hotline follow it with the
shared follower (`shared.snapshots`), so an admin's edit in dispatch reaches them at their next poll and a real
deployment answers with its own units, never the demo city's.

Until the first tree arrives (dispatch not up yet at a first start) units are named by their code and an address
names no place (intake's incidents placed by address wait for the tree); the follower logs that once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from shared.places import PlaceMatch, PlaceMatcher, UnitLike
from shared.retry import TransientError
from shared.snapshots import Follower, HttpSource, SnapshotSource, SnapshotStore


@dataclass(frozen=True)
class OrgUnit:
    code: str
    name: str
    kind: str  # city | county | town | village | community | department
    parent_code: str | None
    function: str | None = None


class OrgChart:
    """One version of the tree: every unit, names by code, and the place matcher over them."""

    def __init__(self, units: Iterable[UnitLike]) -> None:
        self.units = [OrgUnit(u.code, u.name, str(getattr(u.kind, "value", u.kind)), u.parent_code,
                              getattr(u, "function", None)) for u in units]
        self.names = {u.code: u.name for u in self.units}
        self.places = PlaceMatcher.build(self.units)

    @classmethod
    def from_payload(cls, units: list[dict[str, Any]]) -> OrgChart:
        """The tree as dispatch serves it (`units` of `GET /api/v1/org/tree`)."""
        return cls(OrgUnit(u["code"], u["name"], u["kind"], u.get("parent_code"), u.get("function")) for u in units)


class HeldChart(Protocol):
    """A follower, or a `shared.snapshots.Fixed` chart (tests; a deployment without dispatch)."""

    value: OrgChart | None
    version: int | None


class UnitNames(Mapping[str, str]):
    """Unit code → name in the tree held now (empty before the first tree)."""

    def __init__(self, held: HeldChart) -> None:
        self.held = held

    def _names(self) -> dict[str, str]:
        chart = self.held.value
        return chart.names if chart is not None else {}

    def __getitem__(self, code: str) -> str:
        return self._names()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


class Places:
    """Where an address points by the place names of the tree held now. Before the first tree: no place (a
    preview), or, with `wait`, TransientError, so an incident placed by its address waits for the tree instead
    of going unplaced (intake: its consumer retries it, its HTTP doors answer 503)."""

    def __init__(self, held: HeldChart, *, wait: bool = False) -> None:
        self.held, self.wait = held, wait

    def match(self, text: str) -> PlaceMatch | None:
        chart = self.held.value
        if chart is None:
            if self.wait:
                raise TransientError("no organisation tree from dispatch yet: addresses wait for it")
            return None
        return chart.places.match(text)


def dispatch_source(base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> HttpSource:
    """Dispatch's organisation-tree feed."""
    return HttpSource(base_url, version_path="/api/v1/org/version", snapshot_path="/api/v1/org/tree",
                      payload_key="units", transport=transport, timeout_s=10.0)


def follower(source: SnapshotSource, *, poll_s: float, store: SnapshotStore | None = None) -> Follower[OrgChart]:
    """The job keeping a service's chart at dispatch's tree version (stored, when a store is given, so a
    restart while dispatch is down starts from it: `shared.snapshot_store.TableStore` over the service's
    `org_tree_snapshot` table, as intake and hotline do)."""
    return Follower("org-tree", source=source, build=OrgChart.from_payload, poll_s=poll_s, store=store,
                    waiting="units are named by their code and addresses name no place until dispatch answers")

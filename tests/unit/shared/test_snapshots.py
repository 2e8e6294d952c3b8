"""The shared snapshot follower: fetches only when the version moves, stores before it serves, keeps the copy at
hand while the source is away, starts from its stored copy, and names units by the tree it follows."""

from __future__ import annotations

from typing import Any

import pytest

from shared.orgchart import OrgChart, Places, UnitNames
from shared.snapshots import Follower, Snapshot

pytestmark = pytest.mark.unit


class Source:
    """A source whose version, payload and availability the test sets; counts the snapshots fetched."""

    def __init__(self, version: int, payload: Any) -> None:
        self.current, self.payload, self.down, self.fetched = version, payload, False, 0

    async def version(self) -> int:
        if self.down:
            raise ConnectionError("source down")
        return self.current

    async def snapshot(self) -> Snapshot:
        if self.down:
            raise ConnectionError("source down")
        self.fetched += 1
        return Snapshot(self.current, self.payload)


class Store:
    def __init__(self, held: Snapshot | None = None) -> None:
        self.held = held

    async def load(self) -> Snapshot | None:
        return self.held

    async def save(self, snapshot: Snapshot) -> None:
        self.held = snapshot


def follower(source: Source, store: Store | None = None) -> Follower[list[str]]:
    return Follower("test", source=source, build=lambda payload: sorted(payload), poll_s=1, store=store)


async def test_a_follower_fetches_the_snapshot_only_when_the_version_moves_and_stores_it_before_serving_it():
    source, store = Source(1, ["b", "a"]), Store()
    held = follower(source, store)
    assert held.value is None and held.version is None
    assert await held.refresh()
    assert (held.value, held.version, store.held) == (["a", "b"], 1, Snapshot(1, ["b", "a"]))
    assert not await held.refresh() and source.fetched == 1  # same version: only the version was asked
    source.current, source.payload = 2, ["c"]
    assert await held.refresh()
    assert (held.value, held.version, source.fetched) == (["c"], 2, 2)


async def test_a_follower_keeps_serving_its_copy_while_the_source_is_down_and_catches_up_when_it_is_back():
    source = Source(1, ["a"])
    held = follower(source)
    await held.poll_once()
    source.down = True
    source.current, source.payload = 2, ["b"]
    await held.poll_once()
    await held.poll_once()  # still down: no error escapes, the copy at hand stays
    assert (held.value, held.version, held.failing) == (["a"], 1, True)
    source.down = False
    await held.poll_once()
    assert (held.value, held.version, held.failing) == (["b"], 2, False)


async def test_a_follower_starts_from_its_stored_copy_when_the_source_has_never_answered():
    source = Source(5, ["new"])
    source.down = True
    held = follower(source, Store(Snapshot(4, ["stored"])))
    assert await held.load_stored()
    await held.poll_once()
    assert (held.value, held.version) == (["stored"], 4)


async def test_a_source_that_went_back_in_version_still_wins_over_the_copy():
    source = Source(7, ["old numbering"])
    held = follower(source)
    await held.poll_once()
    source.current, source.payload = 1, ["rebuilt"]  # the source was rebuilt from scratch
    await held.poll_once()
    assert (held.value, held.version) == (["rebuilt"], 1)


def test_unit_names_and_places_read_the_tree_held_now_and_are_empty_before_the_first():
    class Held:
        value: OrgChart | None = None
        version: int | None = None

    held = Held()
    names, places = UnitNames(held), Places(held)
    assert names.get("320602", "320602") == "320602" and places.match("崇川区和平桥街道") is None
    held.value = OrgChart.from_payload([
        {"code": "320600", "name": "示范市", "kind": "city", "parent_code": None},
        {"code": "320602", "name": "崇川区", "kind": "county", "parent_code": "320600"},
        {"code": "320602001", "name": "和平桥街道", "kind": "town", "parent_code": "320602"}])
    assert names["320602001"] == "和平桥街道" and len(names) == 3
    match = places.match("崇川区和平桥街道人民中路18号")
    assert match is not None and (match.county_code, match.town_code) == ("320602", "320602001")

"""Locating an appeal from its address text when there are no coordinates: place names of the topology.

Shared because two services use it: intake places an incident that came with an address only, and the
operator console shows the operator where an address points before the call is submitted (the same answer).

Every county, town and village/community name is indexed with its short forms (南通市 → 南通, 如东县 → 如东,
掘港街道 → 掘港, 兴仁村 → 兴仁). The text is scanned once, leftmost-longest, with a dict of names per length
(names are 2–12 characters; a few thousand names cost a few thousand dict probes per address).

Resolution is "the most specific consistent match": every candidate unit is supported by the mentions
that name it or one of its ancestors; the best-supported, most specific candidate wins. When two
candidates tie (兴仁村 in two towns, and nothing in the text tells them apart), the answer falls back to
their lowest common ancestor, or to nothing: a village is only accepted when it is unique or the text
disambiguates it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

PLACE_KINDS = ("city", "county", "town", "village", "community")
_DEPTH = {"city": 0, "county": 1, "town": 2, "village": 3, "community": 3}

# Longest first, so 街道办事处 is stripped before 街道 and 自治县 before 县.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "city": ("自治州", "地区", "市", "盟", "州"),
    "county": ("自治县", "自治旗", "新区", "县", "区", "市", "旗"),
    "town": ("街道办事处", "街道", "民族乡", "镇", "乡", "苏木"),
    "village": ("村民委员会", "村委会", "行政村", "村"),
    "community": ("居民委员会", "社区居委会", "居委会", "社区", "村"),
}
FULL_WEIGHT, SHORT_WEIGHT = 1.0, 0.8
MIN_SHORT = 2  # a one-character short form (东村 → 东) matches half the addresses in a city


class UnitLike(Protocol):
    """The part of a topology unit the matcher needs (shared/democity Unit fits)."""

    code: str
    name: str
    kind: object  # city|county|town|village|community|department (a str or a str-valued enum)
    parent_code: str | None


@dataclass(frozen=True)
class PlaceMatch:
    village_code: str | None
    town_code: str | None
    county_code: str | None
    matched_names: tuple[str, ...]
    confidence: float


@dataclass(frozen=True)
class _Place:
    code: str
    kind: str
    depth: int
    chain: tuple[str, ...]  # self first, then ancestors up to the root


@dataclass(frozen=True)
class _Mention:
    text: str
    start: int
    codes: frozenset[str]
    full: bool  # the full official name, not a short form


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def _kind(unit: UnitLike) -> str:
    return str(getattr(unit.kind, "value", unit.kind)).lower()


def short_forms(name: str, kind: str) -> tuple[str, ...]:
    """The official name and the forms people say: 掘港街道 → (掘港街道, 掘港)."""
    forms = [name]
    for suffix in _SUFFIXES.get(kind, ()):
        if name.endswith(suffix) and len(name) - len(suffix) >= MIN_SHORT:
            forms.append(name[: -len(suffix)])
            break
    return tuple(forms)


class PlaceMatcher:
    """Matches place names of the topology in free address text."""

    def __init__(self, places: dict[str, _Place], names: dict[str, dict[str, bool]]) -> None:
        self._places = places
        self._names = names  # name → {code: is the full name}
        self._lengths = sorted({len(n) for n in names}, reverse=True)

    @classmethod
    def build(cls, units: Iterable[UnitLike]) -> PlaceMatcher:
        """Index the place units (departments and grids are not places people name in an address)."""
        units = [u for u in units if _kind(u) in _DEPTH]
        parents = {u.code: u.parent_code for u in units}
        places: dict[str, _Place] = {}
        names: dict[str, dict[str, bool]] = {}
        for unit in units:
            chain, code, seen = [], unit.code, set()
            while code is not None and code in parents and code not in seen:
                seen.add(code)
                chain.append(code)
                code = parents[code]
            kind = _kind(unit)
            places[unit.code] = _Place(unit.code, kind, _DEPTH[kind], tuple(chain))
            for i, form in enumerate(short_forms(_fold(unit.name), kind)):
                if len(form) < MIN_SHORT:
                    continue
                by_code = names.setdefault(form, {})
                by_code[unit.code] = by_code.get(unit.code, False) or i == 0
        return cls(places, names)

    def __len__(self) -> int:
        return len(self._names)

    def mentions(self, text: str) -> list[_Mention]:
        """Place names in the text, leftmost-longest, not overlapping."""
        folded = _fold(text)
        found: list[_Mention] = []
        i = 0
        while i < len(folded):
            for length in self._lengths:
                if i + length > len(folded):
                    continue
                candidate = folded[i : i + length]
                by_code = self._names.get(candidate)
                if by_code is not None:
                    found.append(_Mention(candidate, i, self._broadest(by_code), any(by_code.values())))
                    i += length
                    break
            else:
                i += 1
        return found

    def _broadest(self, by_code: dict[str, bool]) -> frozenset[str]:
        # 掘港 is both the town and its 掘港社区: a bare name means the broader place.
        codes = set(by_code)
        return frozenset(c for c in codes if not any(a in codes for a in self._places[c].chain[1:]))

    def match(self, text: str) -> PlaceMatch | None:
        """The most specific place the text consistently names, or None (a city-only match is None too)."""
        mentions = self.mentions(text or "")
        if not mentions:
            return None
        candidates = set().union(*(m.codes for m in mentions))
        support: dict[str, float] = {}
        for code in candidates:
            chain = set(self._places[code].chain)
            # A full official name is firmer evidence than a short form, which may be part of a street name.
            support[code] = round(sum(FULL_WEIGHT if m.full else SHORT_WEIGHT
                                      for m in mentions if m.codes & chain), 6)
        best = max(support.values())
        top = [c for c in sorted(candidates) if support[c] == best]
        # Among equally supported candidates, an ancestor of another adds nothing: keep the specific one.
        top = [c for c in top if not any(c in self._places[o].chain[1:] for o in top if o != c)]
        ambiguous = len(top) > 1
        code = top[0] if not ambiguous else self._common_ancestor(top)
        if code is None or self._places[code].kind == "city":
            return None
        place = self._places[code]
        chain = set(place.chain)
        consistent = [m for m in mentions if m.codes & chain or self._below(m.codes, code)]
        conflicting = len(mentions) - len(consistent)
        return self._result(place, consistent, ambiguous=ambiguous, conflicting=conflicting)

    def _below(self, codes: frozenset[str], code: str) -> bool:
        return any(code in self._places[c].chain for c in codes)

    def _common_ancestor(self, codes: list[str]) -> str | None:
        chains = [self._places[c].chain for c in codes]
        shared = set(chains[0]).intersection(*chains[1:])
        return next((c for c in chains[0] if c in shared), None)

    def _result(self, place: _Place, consistent: list[_Mention], *, ambiguous: bool,
                conflicting: int) -> PlaceMatch:
        levels = {self._places[c].kind: c for c in place.chain}
        village = levels.get("village") or levels.get("community")
        names = tuple(dict.fromkeys(m.text for m in consistent))
        # Heuristic confidence: a full official name is better evidence than a short form, each further
        # consistent name adds some, ambiguity and contradicting names take some away.
        confidence = 0.75 if any(m.full for m in consistent) else 0.6
        confidence += 0.1 * max(0, len(names) - 1)
        if ambiguous:
            confidence *= 0.7
        if conflicting:
            confidence *= 0.8
        return PlaceMatch(village_code=village, town_code=levels.get("town"), county_code=levels.get("county"),
                          matched_names=names, confidence=round(min(confidence, 1.0), 3))

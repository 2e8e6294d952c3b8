"""The grid registry (一格一码): parsing and validating a GeoJSON FeatureCollection of grids.

A collection holds grid features and, optionally, town features (`properties.kind == "town"`) that give a town's
area. Validation collects every problem, each naming its feature (index and code) and field, so one import shows
them all. Checks: the feature and its properties are well formed; codes are unique and extend their village's
code (which extends its town's, which extends its county's); polygons are valid; comprehensive grids do not
overlap one another, nor dedicated grids one another; every grid lies inside its town's area; and the
comprehensive grids of a town leave no gap inside its area.

Coordinates are lon/lat degrees; areas are converted to square metres near the feature's latitude, which is
plenty for "is this a gap or a rounding artefact".
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely import STRtree
from shapely.validation import explain_validity

from services.grid.domain.lookup import METRES_PER_DEGREE, polygon_from_coordinates

KINDS = ("comprehensive", "dedicated")
DEDICATED_TYPES = ("school", "market", "factory", "hospital", "industrial_park", "scenic_area", "other")
MEMBER_ROLES = ("grid_leader", "dedicated_leader", "grid_worker", "informant")
CODE = re.compile(r"^\d{6,30}$")
PHONE = re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8})$")
# Shared edges come out of floating point with slivers of ~1e-12 deg²; a real overlap or gap is far larger.
MIN_AREA_M2 = 1.0


@dataclass(frozen=True)
class MemberSpec:
    name: str
    role: str
    phone: str


@dataclass(frozen=True)
class GridSpec:
    code: str
    name: str
    kind: str
    dedicated_type: str | None
    village_code: str
    town_code: str
    county_code: str
    polygon: dict[str, Any]  # GeoJSON Polygon geometry
    members: tuple[MemberSpec, ...] = ()


@dataclass(frozen=True)
class TownSpec:
    code: str
    county_code: str
    polygon: dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an import: which feature (index, code), which field, what and which kind."""

    field: str
    message: str
    type: str
    feature: int | None = None
    code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "code": self.code, "field": self.field, "in": "body",
                "message": self.message, "type": self.type}


@dataclass
class Parsed:
    grids: list[GridSpec] = field(default_factory=list)
    towns: list[TownSpec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    feature_of: dict[str, int] = field(default_factory=dict)  # grid code → feature index


def square_metres(area_deg2: float, lat: float) -> float:
    return area_deg2 * METRES_PER_DEGREE ** 2 * math.cos(math.radians(lat))


def _text(props: Mapping[str, Any], name: str, where: int, code: str | None, problems: list[Problem],
          *, required: bool = True, max_length: int = 100) -> str | None:
    value = props.get(name)
    if value is None or value == "":
        if required:
            problems.append(Problem(f"features[{where}].properties.{name}", f"{name} is required", "missing",
                                    where, code))
        return None
    if not isinstance(value, str) or len(value) > max_length:
        problems.append(Problem(f"features[{where}].properties.{name}",
                                f"{name} must be a string of at most {max_length} characters", "string_type",
                                where, code))
        return None
    return value


def _geometry(feature: Mapping[str, Any], where: int, code: str | None,
              problems: list[Problem]) -> dict[str, Any] | None:
    geometry = feature.get("geometry")
    path = f"features[{where}].geometry"
    if not isinstance(geometry, Mapping) or geometry.get("type") != "Polygon":
        problems.append(Problem(path, "geometry must be a GeoJSON Polygon", "geometry_type", where, code))
        return None
    coords = geometry.get("coordinates")
    try:
        polygon = polygon_from_coordinates(coords)  # type: ignore[arg-type]
    except Exception as exc:  # shapely raises several types for malformed coordinate arrays
        problems.append(Problem(path, f"coordinates are not a polygon: {exc}", "invalid_polygon", where, code))
        return None
    if not polygon.is_valid:
        problems.append(Problem(path, f"invalid polygon: {explain_validity(polygon)}", "invalid_polygon",
                                where, code))
        return None
    if polygon.is_empty or polygon.area == 0:
        problems.append(Problem(path, "polygon has no area", "invalid_polygon", where, code))
        return None
    return {"type": "Polygon", "coordinates": [[[float(x), float(y)] for x, y in ring] for ring in coords]}


def _members(props: Mapping[str, Any], where: int, code: str | None,
             problems: list[Problem]) -> tuple[MemberSpec, ...]:
    raw = props.get("members") or []
    if not isinstance(raw, list):
        problems.append(Problem(f"features[{where}].properties.members", "members must be a list", "list_type",
                                where, code))
        return ()
    out = []
    for m, member in enumerate(raw):
        path = f"features[{where}].properties.members[{m}]"
        if not isinstance(member, Mapping):
            problems.append(Problem(path, "a member must be an object", "dict_type", where, code))
            continue
        name, role, phone = member.get("name"), member.get("role"), str(member.get("phone") or "")
        if not isinstance(name, str) or not 1 <= len(name) <= 50:
            problems.append(Problem(f"{path}.name", "a member needs a name (1-50 characters)", "missing", where,
                                    code))
        if role not in MEMBER_ROLES:
            problems.append(Problem(f"{path}.role", f"role must be one of {', '.join(MEMBER_ROLES)}", "enum",
                                    where, code))
        if not PHONE.match(phone):
            problems.append(Problem(f"{path}.phone", "phone must be a mobile (1xxxxxxxxxx) or fixed-line number",
                                    "pattern", where, code))
        out.append(MemberSpec(str(name), str(role), phone))
    return tuple(out)


def parse(doc: Any) -> Parsed:
    """Grids and towns out of a FeatureCollection, with every structural problem found."""
    parsed = Parsed()
    problems = parsed.problems
    if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection" \
            or not isinstance(doc.get("features"), list):
        problems.append(Problem("type", "expected a GeoJSON FeatureCollection with a features list", "geojson"))
        return parsed
    for where, feature in enumerate(doc["features"]):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature" \
                or not isinstance(feature.get("properties"), Mapping):
            problems.append(Problem(f"features[{where}]", "expected a Feature with properties", "geojson", where))
            continue
        props = feature["properties"]
        raw_code = props.get("code")
        code = raw_code if isinstance(raw_code, str) else None
        if code is None or not CODE.match(code):
            problems.append(Problem(f"features[{where}].properties.code", "code must be 6 to 30 digits", "pattern",
                                    where, code))
        kind = props.get("kind")
        if kind == "town":
            county = _text(props, "county_code", where, code, problems, max_length=16)
            geometry = _geometry(feature, where, code, problems)
            if code and county and geometry:
                if not code.startswith(county):
                    problems.append(Problem(f"features[{where}].properties.code",
                                            f"town code {code} does not extend its county code {county}",
                                            "code_hierarchy", where, code))
                parsed.towns.append(TownSpec(code, county, geometry))
            continue
        if kind not in KINDS:
            problems.append(Problem(f"features[{where}].properties.kind",
                                    "kind must be comprehensive, dedicated or town", "enum", where, code))
        dedicated_type = props.get("dedicated_type")
        if kind == "dedicated" and dedicated_type not in DEDICATED_TYPES:
            problems.append(Problem(f"features[{where}].properties.dedicated_type",
                                    f"a dedicated grid needs dedicated_type, one of {', '.join(DEDICATED_TYPES)}",
                                    "enum", where, code))
        if kind == "comprehensive" and dedicated_type is not None:
            problems.append(Problem(f"features[{where}].properties.dedicated_type",
                                    "only a dedicated grid has a dedicated_type", "unexpected", where, code))
        name = _text(props, "name", where, code, problems)
        village = _text(props, "village_code", where, code, problems, max_length=16)
        town = _text(props, "town_code", where, code, problems, max_length=16)
        county = _text(props, "county_code", where, code, problems, max_length=16)
        members = _members(props, where, code, problems)
        geometry = _geometry(feature, where, code, problems)
        if code and village and town and county:
            _hierarchy(code, village, town, county, where, problems)
        if code is not None and code in parsed.feature_of:
            problems.append(Problem(f"features[{where}].properties.code",
                                    f"duplicate code {code} (also feature {parsed.feature_of[code]})",
                                    "duplicate_code", where, code))
            continue
        if code is not None:
            parsed.feature_of[code] = where
        if code and name and kind in KINDS and village and town and county and geometry:
            parsed.grids.append(GridSpec(code, name, kind, dedicated_type if kind == "dedicated" else None,
                                         village, town, county, geometry, members))
    return parsed


def _hierarchy(code: str, village: str, town: str, county: str, where: int, problems: list[Problem]) -> None:
    if not (code.startswith(village) and len(code) > len(village)):
        problems.append(Problem(f"features[{where}].properties.code",
                                f"grid code {code} does not extend its village code {village} (一格一码)",
                                "code_hierarchy", where, code))
    if not (village.startswith(town) and len(village) > len(town)):
        problems.append(Problem(f"features[{where}].properties.village_code",
                                f"village code {village} does not extend its town code {town}",
                                "code_hierarchy", where, code))
    if not (town.startswith(county) and len(town) > len(county)):
        problems.append(Problem(f"features[{where}].properties.town_code",
                                f"town code {town} does not extend its county code {county}",
                                "code_hierarchy", where, code))


def validate(parsed: Parsed, town_areas: Mapping[str, dict[str, Any]]) -> list[Problem]:
    """Spatial problems of the parsed grids against the towns' areas (stored ones, overridden by the import's)."""
    problems: list[Problem] = []
    grids = parsed.grids
    if not grids:
        return problems
    areas = dict(town_areas)
    areas.update({t.code: t.polygon for t in parsed.towns})
    geoms = np.array([polygon_from_coordinates(g.polygon["coordinates"]) for g in grids], dtype=object)
    for kind in KINDS:
        problems += _overlaps([i for i, g in enumerate(grids) if g.kind == kind], grids, geoms, parsed)
    by_town: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(grids):
        by_town[g.town_code].append(i)
    for town, members in sorted(by_town.items()):
        if town not in areas:
            for i in members:
                problems.append(Problem(f"features[{parsed.feature_of[grids[i].code]}].properties.town_code",
                                        f"unknown town {town}: no area is known for it (add a town feature)",
                                        "unknown_town", parsed.feature_of[grids[i].code], grids[i].code))
            continue
        town_geom = polygon_from_coordinates(areas[town]["coordinates"])
        problems += _outside_town(town, town_geom, members, grids, geoms, parsed)
        problems += _gaps(town, town_geom, [i for i in members if grids[i].kind == "comprehensive"], geoms)
    return problems


def _overlaps(idx: Sequence[int], grids: Sequence[GridSpec], geoms: np.ndarray, parsed: Parsed) -> list[Problem]:
    if len(idx) < 2:
        return []
    subset = geoms[list(idx)]
    tree = STRtree(subset)
    left, right = tree.query(subset, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return []
    areas = shapely.area(shapely.intersection(subset[left], subset[right]))
    out = []
    for a, b, area in zip(left, right, areas, strict=True):
        ga, gb = grids[idx[a]], grids[idx[b]]
        lat = subset[a].centroid.y
        if square_metres(float(area), lat) > MIN_AREA_M2:
            out.append(Problem(f"features[{parsed.feature_of[gb.code]}].geometry",
                               f"{gb.kind} grid {gb.code} overlaps grid {ga.code} "
                               f"(feature {parsed.feature_of[ga.code]}) by {square_metres(float(area), lat):.0f} m²",
                               "overlap", parsed.feature_of[gb.code], gb.code))
    return out


def _outside_town(town: str, town_geom: shapely.Polygon, members: Iterable[int], grids: Sequence[GridSpec],
                  geoms: np.ndarray, parsed: Parsed) -> list[Problem]:
    members = list(members)
    outside = shapely.area(shapely.difference(geoms[members], town_geom))
    out = []
    for i, area in zip(members, outside, strict=True):
        lat = geoms[i].centroid.y
        if square_metres(float(area), lat) > MIN_AREA_M2:
            g = grids[i]
            out.append(Problem(f"features[{parsed.feature_of[g.code]}].geometry",
                               f"grid {g.code} lies {square_metres(float(area), lat):.0f} m² outside its town {town}",
                               "outside_town", parsed.feature_of[g.code], g.code))
    return out


def _gaps(town: str, town_geom: shapely.Polygon, members: Sequence[int], geoms: np.ndarray) -> list[Problem]:
    covered = shapely.union_all(geoms[list(members)]) if members else shapely.Polygon()
    gap = town_geom.difference(covered)
    lat = town_geom.centroid.y
    if gap.is_empty or square_metres(gap.area, lat) <= MIN_AREA_M2:
        return []
    parts = [p for p in getattr(gap, "geoms", [gap]) if square_metres(p.area, lat) > MIN_AREA_M2]
    if not parts:
        return []
    where = parts[0].representative_point()
    return [Problem("features", f"town {town} has {len(parts)} gap(s) not covered by any comprehensive grid, "
                                f"{square_metres(gap.area, lat):.0f} m² in all, e.g. near "
                                f"({where.x:.6f}, {where.y:.6f})", "gap", None, town)]


def to_feature(grid: Any, members: Iterable[Any] = ()) -> dict[str, Any]:
    """One grid as a GeoJSON Feature (the import format, so an export imports back unchanged)."""
    props = {"code": grid.code, "name": grid.name, "kind": grid.kind, "dedicated_type": grid.dedicated_type,
             "village_code": grid.village_code, "town_code": grid.town_code, "county_code": grid.county_code,
             "members": [{"name": m.name, "role": m.role, "phone": m.phone} for m in members]}
    return {"type": "Feature", "id": grid.code, "properties": props, "geometry": grid.polygon}


def town_feature(code: str, county_code: str, polygon: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "id": code, "properties": {"code": code, "kind": "town", "county_code": county_code},
            "geometry": polygon}


def rectangle(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}

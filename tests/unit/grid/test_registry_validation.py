"""Registry validation names each problem's feature and field: codes, polygons, overlaps, towns, gaps."""

from __future__ import annotations

from services.grid.domain import registry
from services.grid.domain.registry import rectangle

TOWN = "320613101"
AREAS = {TOWN: rectangle(0, 0, 2, 1)}


def grid(code: str, box, kind: str = "comprehensive", **props):
    village = code[:12]
    return {"type": "Feature", "geometry": rectangle(*box), "properties": {
        "code": code, "name": f"第{code[-3:]}网格", "kind": kind, "village_code": village, "town_code": TOWN,
        "county_code": TOWN[:6], "dedicated_type": "school" if kind == "dedicated" else None,
        "members": [{"name": "张伟", "role": "grid_leader", "phone": "13800001234"}], **props}}


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def problems(doc, areas=AREAS):
    parsed = registry.parse(doc)
    return parsed.problems or registry.validate(parsed, areas)


def test_a_town_tiled_by_two_grids_with_a_dedicated_grid_inside_is_valid():
    doc = collection(grid("320613101001001", (0, 0, 1, 1)), grid("320613101001002", (1, 0, 2, 1)),
                     grid("320613101001901", (0.2, 0.2, 0.4, 0.4), kind="dedicated"))
    assert problems(doc) == []


def test_a_duplicate_code_names_both_features():
    doc = collection(grid("320613101001001", (0, 0, 1, 1)), grid("320613101001001", (1, 0, 2, 1)))
    [problem] = problems(doc)
    assert (problem.type, problem.feature, problem.field) == ("duplicate_code", 1, "features[1].properties.code")
    assert "also feature 0" in problem.message


def test_a_code_that_does_not_extend_its_village_code_is_refused():
    doc = collection(grid("320613101001001", (0, 0, 1, 1), village_code="320613101002"))
    [problem] = problems(doc)
    assert problem.type == "code_hierarchy" and "320613101002" in problem.message


def test_an_invalid_polygon_is_explained():
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    feature = grid("320613101001001", (0, 0, 1, 1))
    feature["geometry"] = bow_tie
    [problem] = problems(collection(feature))
    assert problem.type == "invalid_polygon" and "Self-intersection" in problem.message


def test_missing_fields_and_wrong_kinds_are_each_reported():
    feature = grid("320613101001001", (0, 0, 1, 1), kind="dedicated", dedicated_type="castle")
    del feature["properties"]["name"]
    feature["properties"]["members"][0]["phone"] = "12"
    found = {(p.field, p.type) for p in problems(collection(feature))}
    assert found == {("features[0].properties.dedicated_type", "enum"), ("features[0].properties.name", "missing"),
                     ("features[0].properties.members[0].phone", "pattern")}
    assert problems({"type": "Feature"})[0].type == "geojson"


def test_overlapping_comprehensive_grids_are_refused_but_shared_edges_are_not():
    doc = collection(grid("320613101001001", (0, 0, 1.2, 1)), grid("320613101001002", (1, 0, 2, 1)))
    [problem] = problems(doc)
    assert (problem.type, problem.code) == ("overlap", "320613101001002")
    assert "320613101001001" in problem.message


def test_a_grid_outside_its_town_and_a_gap_inside_it_are_refused():
    doc = collection(grid("320613101001001", (0, 0, 1, 1)), grid("320613101001002", (1.5, 0, 2.5, 1)))
    found = {p.type: p for p in problems(doc)}
    assert set(found) == {"outside_town", "gap"}
    assert found["outside_town"].code == "320613101001002"
    assert found["gap"].code == TOWN and "1 gap(s)" in found["gap"].message


def test_a_grid_of_an_unknown_town_is_refused_unless_the_collection_brings_the_town():
    doc = collection(grid("320613101001001", (0, 0, 2, 1)))
    assert problems(doc, {})[0].type == "unknown_town"
    town = registry.town_feature(TOWN, "320613", rectangle(0, 0, 2, 1))
    assert problems(collection(town, *doc["features"]), {}) == []

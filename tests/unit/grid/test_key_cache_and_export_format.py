"""The API-key cache forgets on time and on revocation; an exported grid parses back as the same grid."""

from __future__ import annotations

from datetime import UTC, datetime

from services.grid.domain import registry
from shared.apikeys import ApiKey, KeyCache
from shared.democity import grids

KEY = ApiKey("0123456789ab", "网格通", "320613", datetime(2026, 11, 23, tzinfo=UTC))


def test_a_cached_key_expires_after_its_ttl_and_is_forgotten_when_revoked():
    cache = KeyCache(ttl_s=10)
    cache.put("digest", KEY, now=100.0)
    assert cache.get("digest", now=109.9) == KEY
    assert cache.get("digest", now=110.1) is None
    cache.put("digest", KEY, now=200.0)
    cache.forget(KEY.id)
    assert cache.get("digest", now=200.5) is None


def test_an_exported_demo_grid_parses_back_unchanged():
    grid = next(g for g in grids() if g.kind == "dedicated")

    class Row:  # what the registry table holds
        code, name, kind, dedicated_type = grid.code, grid.name, grid.kind, grid.dedicated_type
        village_code, town_code, county_code = grid.village_code, grid.town_code, grid.county_code
        polygon = {"type": "Polygon", "coordinates": [[list(p) for p in grid.polygon]]}

    feature = registry.to_feature(Row, grid.members)
    parsed = registry.parse({"type": "FeatureCollection", "features": [feature]})
    assert parsed.problems == []
    [spec] = parsed.grids
    assert (spec.code, spec.kind, spec.dedicated_type, spec.village_code) == (
        grid.code, "dedicated", grid.dedicated_type, grid.village_code)
    assert [(m.name, m.role, m.phone) for m in spec.members] == [(m.name, m.role, m.phone) for m in grid.members]
    assert spec.polygon == Row.polygon

"""A small hand-built city for the dispatch domain tests (independent of shared.democity).

    320600 南通市 ── 320600-water 市水务局, 320600-education 市教育局
    ├── 320612 通州区 ── 320612-water, 320612-roads, 320612-market
    │   ├── 320612101 金沙街道 ── 320612101001 金沙社区 (community)
    │   └── 320612102 西亭镇 ── 320612102001 西亭村 (village)
    └── 320613 崇川区 ── 320613-urban_management
        └── 320613101 和平街道 ── 320613101001 和平社区
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from services.dispatch.domain.org import OrgTree

CST = timezone(timedelta(hours=8))

CITY, TONGZHOU, CHONGCHUAN = "320600", "320612", "320613"
JINSHA, XITING, HEPING = "320612101", "320612102", "320613101"
JINSHA_COMMUNITY, XITING_VILLAGE, HEPING_COMMUNITY = "320612101001", "320612102001", "320613101001"
CITY_WATER, CITY_EDUCATION = "320600-water", "320600-education"
TZ_WATER, TZ_ROADS, TZ_MARKET, CC_URBAN = "320612-water", "320612-roads", "320612-market", "320613-urban_management"


@dataclass(frozen=True)
class U:
    code: str
    name: str
    kind: str
    parent_code: str | None
    function: str | None = None


UNITS = (
    U(CITY, "南通市", "city", None),
    U(CITY_WATER, "南通市水务局", "department", CITY, "water"),
    U(CITY_EDUCATION, "南通市教育局", "department", CITY, "education"),
    U(TONGZHOU, "通州区", "county", CITY),
    U(TZ_WATER, "通州区水务局", "department", TONGZHOU, "water"),
    U(TZ_ROADS, "通州区交通运输局", "department", TONGZHOU, "roads"),
    U(TZ_MARKET, "通州区市场监督管理局", "department", TONGZHOU, "market"),
    U(JINSHA, "金沙街道", "town", TONGZHOU),
    U(JINSHA_COMMUNITY, "金沙社区", "community", JINSHA),
    U(XITING, "西亭镇", "town", TONGZHOU),
    U(XITING_VILLAGE, "西亭村", "village", XITING),
    U(CHONGCHUAN, "崇川区", "county", CITY),
    U(CC_URBAN, "崇川区城市管理局", "department", CHONGCHUAN, "urban_management"),
    U(HEPING, "和平街道", "town", CHONGCHUAN),
    U(HEPING_COMMUNITY, "和平社区", "community", HEPING),
)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


def build_org() -> OrgTree:
    return OrgTree.from_units(UNITS)

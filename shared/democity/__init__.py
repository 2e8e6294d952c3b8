"""A deterministic demo city at Nantong scale (南通): 1 city, 10 counties, 96 towns, their villages and
communities, departments, and 8,450 comprehensive + 853 dedicated grids tiling the city's bounding box.

Geometry is an exact rectangle tiling (counties → towns → villages → grids), so neighbouring grids share edges
exactly; dedicated grids (专属网格) are small rectangles inside one comprehensive grid of their village.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

CITY_CODE = "320600"
BBOX = (120.20, 31.70, 121.90, 32.70)  # lon_min, lat_min, lon_max, lat_max

COUNTIES = (
    ("320613", "崇川区"), ("320612", "通州区"), ("320614", "海门区"), ("320623", "如东县"), ("320681", "启东市"),
    ("320682", "如皋市"), ("320685", "海安市"), ("320671", "南通经济技术开发区"), ("320672", "苏锡通科技产业园区"),
    ("320673", "通州湾示范区"),
)
TOWNS_PER_COUNTY = (12, 11, 10, 12, 11, 12, 10, 7, 5, 6)  # 96 in all
TOWN_STEMS = "和平 任港 新城 虹桥 学田 钟秀 文峰 观音山 狼山 幸福 陈桥 秦灶 金沙 西亭 二甲 东社 三余 石港 刘桥 平潮 平东 五接 兴东 先锋 川姜 三厂 滨江 三星 常乐 悦来 四甲 余东 正余 包场 临江 掘港 城中 大豫 曹埠 岔河 双甸 新店 河口 袁庄 马塘 丰利 栟茶 洋口 长沙 汇龙 南阳 北新 王鲍 合作 海复 近海 寅阳 惠萍 东海 吕四 如城 东陈 丁堰 白蒲 下原 九华 石庄 长江 吴窑 江安 搬经 磨头 海安 城东 曲塘 李堡 角斜 大公 雅周 白甸 南莫 墩头 孙庄 竹行 小海 中兴 新开 张芝山 东方 兴仁 三和 通海 东灶 启海 大同 北濠".split()
VILLAGE_STEMS = "兴仁 友谊 新华 永安 团结 红旗 先锋 光明 东风 向阳 五一 联合 新民 富民 太平 长青 双桥 三元 丰收 新河 金桥 建设 胜利 幸福 和谐 民主".split()
FUNCTIONS = (
    ("water", "水务局"), ("roads", "交通运输局"), ("market", "市场监督管理局"), ("environment", "生态环境局"),
    ("urban_management", "城市管理局"), ("housing", "住房和城乡建设局"), ("health", "卫生健康委员会"),
    ("human_resources", "人力资源和社会保障局"), ("education", "教育局"), ("agriculture", "农业农村局"),
    ("civil_affairs", "民政局"), ("public_security", "公安局"),
)
COMPREHENSIVE_GRIDS = 8450
DEDICATED_GRIDS = 853
DEDICATED_TYPES = (("school", "学校"), ("market", "市场"), ("factory", "工厂"), ("hospital", "医院"),
                   ("industrial_park", "工业园区"), ("scenic_area", "景区"))
SURNAMES = "张王李赵陈刘杨黄吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国红梅志"


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str  # city | county | town | village | community | department
    parent_code: str | None
    function: str | None = None
    centroid: tuple[float, float] | None = None


@dataclass(frozen=True)
class Member:
    name: str
    role: str  # grid_leader | dedicated_leader | grid_worker | informant
    phone: str


@dataclass(frozen=True)
class GridRecord:
    code: str
    name: str
    kind: str  # comprehensive | dedicated
    dedicated_type: str | None
    village_code: str
    town_code: str
    county_code: str
    polygon: tuple[tuple[float, float], ...]
    members: tuple[Member, ...]


def _r(x: float) -> float:
    return round(x, 6)


def _split(lo: float, hi: float, n: int) -> list[tuple[float, float]]:
    edges = [_r(lo + (hi - lo) * i / n) for i in range(n + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _rect(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))


def _person(seed: int) -> tuple[str, str]:
    name = SURNAMES[seed % len(SURNAMES)] + GIVEN[(seed * 7) % len(GIVEN)] + GIVEN[(seed * 13 + 3) % len(GIVEN)]
    phone = f"1{(3, 5, 7, 8, 9)[seed % 5]}{(seed * 7919) % 10**9:09d}"
    return name, phone


@functools.cache
def _build() -> tuple[tuple[Unit, ...], tuple[GridRecord, ...], dict[str, tuple[float, float, float, float]]]:
    units: list[Unit] = [Unit(CITY_CODE, "南通市", "city", None)]
    boxes: dict[str, tuple[float, float, float, float]] = {CITY_CODE: BBOX}
    units += [Unit(f"{CITY_CODE}-{f}", f"南通市{n}", "department", CITY_CODE, f) for f, n in FUNCTIONS]
    x_lo, y_lo, x_hi, y_hi = BBOX
    villages: list[tuple[str, str, str, tuple[float, float, float, float]]] = []
    stems = iter(TOWN_STEMS)
    for (c_code, c_name), (cx0, cx1), n_towns in zip(COUNTIES, _split(x_lo, x_hi, 10), TOWNS_PER_COUNTY, strict=True):
        units.append(Unit(c_code, c_name, "county", CITY_CODE, centroid=(_r((cx0 + cx1) / 2), _r((y_lo + y_hi) / 2))))
        boxes[c_code] = (cx0, y_lo, cx1, y_hi)
        short = c_name[:2]
        units += [Unit(f"{c_code}-{f}", f"{short}{n}", "department", c_code, f) for f, n in FUNCTIONS]
        for t, (ty0, ty1) in enumerate(_split(y_lo, y_hi, n_towns)):
            t_code = f"{c_code}{t + 101:03d}"
            stem = next(stems)
            street = t % 3 == 0
            units.append(Unit(t_code, f"{stem}{'街道' if street else '镇'}", "town", c_code,
                              centroid=(_r((cx0 + cx1) / 2), _r((ty0 + ty1) / 2))))
            boxes[t_code] = (cx0, ty0, cx1, ty1)
            n_vill = 9 + (t % 4)
            for v, (vx0, vx1) in enumerate(_split(cx0, cx1, n_vill)):
                v_code = f"{t_code}{v + 1:03d}"
                kind = "community" if (street or v % 4 == 0) else "village"
                name = f"{VILLAGE_STEMS[(t * 7 + v) % len(VILLAGE_STEMS)]}{'社区' if kind == 'community' else '村'}"
                units.append(Unit(v_code, name, kind, t_code, centroid=(_r((vx0 + vx1) / 2), _r((ty0 + ty1) / 2))))
                boxes[v_code] = (vx0, ty0, vx1, ty1)
                villages.append((v_code, t_code, c_code, (vx0, ty0, vx1, ty1)))
    unit_names = {u.code: u.name for u in units}
    grids: list[GridRecord] = []
    per, extra = divmod(COMPREHENSIVE_GRIDS, len(villages))
    ded_per, ded_extra = divmod(DEDICATED_GRIDS, len(villages))
    seed = 0
    for i, (v_code, t_code, c_code, (vx0, vy0, vx1, vy1)) in enumerate(villages):
        n = per + (1 if i < extra else 0)
        cells = _split(vy0, vy1, n)
        comp = []
        for g, (gy0, gy1) in enumerate(cells):
            seed += 1
            leader, worker = _person(seed), _person(seed + 100_000)
            record = GridRecord(
                f"{v_code}{g + 1:03d}", f"{unit_names[t_code]}{unit_names[v_code]}第{g + 1}网格", "comprehensive", None,
                v_code, t_code, c_code, _rect(vx0, gy0, vx1, gy1),
                (Member(leader[0], "grid_leader", leader[1]), Member(worker[0], "grid_worker", worker[1])))
            comp.append(record)
        grids += comp
        for d in range(ded_per + (1 if i < ded_extra else 0)):
            host = comp[(d * 3) % len(comp)]
            (hx0, hy0), (hx1, _), (_, hy1) = host.polygon[0], host.polygon[1], host.polygon[2]
            w, h = (hx1 - hx0), (hy1 - hy0)
            dtype, dname = DEDICATED_TYPES[(i + d) % len(DEDICATED_TYPES)]
            seed += 1
            leader = _person(seed)
            grids.append(GridRecord(
                f"{v_code}{901 + d:03d}", f"{unit_names[v_code]}{dname}专属网格", "dedicated", dtype, v_code, t_code,
                c_code, _rect(_r(hx0 + w * 0.3), _r(hy0 + h * 0.3), _r(hx0 + w * 0.6), _r(hy0 + h * 0.6)),
                (Member(leader[0], "dedicated_leader", leader[1]),)))
    return tuple(units), tuple(grids), boxes


def units() -> list[Unit]:
    """Every unit of the demo city: city, counties, towns, villages/communities, departments."""
    return list(_build()[0])


def grids() -> list[GridRecord]:
    """The demo city's 9,303 grids."""
    return list(_build()[1])


def boxes() -> dict[str, tuple[float, float, float, float]]:
    """Bounding rectangles of the city, counties, towns and villages (lon_min, lat_min, lon_max, lat_max)."""
    return dict(_build()[2])


def units_as_dicts() -> list[dict]:
    return [asdict(u) for u in units()]

"""A deterministic demo city at Nantong scale (南通) laid out where Nantong is: 1 city, 10 counties, 96 towns
around their real seats of government (`places.py`), their villages and communities, departments, and 8,450
comprehensive + 853 dedicated grids covering the city's land.

Geometry: a lattice of rectangles over the city's outline (finer in the urban core, where grids are smaller),
each rectangle given to the town whose seat is nearest, so that neighbouring grids share edges exactly and a
point near a town's seat lies in that town. A town's rectangles, in rows, are cut into its villages; a few are
halved so that the counts match Nantong's. Dedicated grids (专属网格) are small rectangles inside one
comprehensive grid of their village. What is real and what is synthetic: `places.py` and docs/grid.md.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
import shapely

from shared.democity.places import CITY_CENTRE, COUNTIES, OUTLINE, TOWNS

CITY_CODE = "320600"
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
STEP_KM = 1.18  # lattice step (km); grows if places.py changes and more grids come out than 8,450
URBAN_RADIUS_KM = 14  # within this of the city centre grids are a quarter the size (denser population)
KM_PER_DEG_LAT = 111.32
COS_LAT = math.cos(math.radians(32.2))
_xs, _ys = zip(*OUTLINE, strict=True)
BBOX = (min(_xs), min(_ys), max(_xs), max(_ys))  # lon_min, lat_min, lon_max, lat_max of the outline
TOWNS_PER_COUNTY = tuple(len(TOWNS[code]) for code, _, _ in COUNTIES)  # 96 in all

Rect = tuple[float, float, float, float]


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


def _rect(x0: float, y0: float, x1: float, y1: float) -> tuple[tuple[float, float], ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))


def _person(seed: int) -> tuple[str, str]:
    name = SURNAMES[seed % len(SURNAMES)] + GIVEN[(seed * 7) % len(GIVEN)] + GIVEN[(seed * 13 + 3) % len(GIVEN)]
    phone = f"1{(3, 5, 7, 8, 9)[seed % 5]}{(seed * 7919) % 10**9:09d}"
    return name, phone


def _seats() -> tuple[list[str], np.ndarray]:
    codes, xy = [], []
    for county, _, _ in COUNTIES:
        for t, (_, seat) in enumerate(TOWNS[county]):
            codes.append(f"{county}{t + 101:03d}")
            xy.append(seat)
    return codes, np.array(xy)


def _km(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    return np.hypot(dx * KM_PER_DEG_LAT * COS_LAT, dy * KM_PER_DEG_LAT)


def _cells(step: float) -> tuple[list[Rect], np.ndarray]:
    """Lattice rectangles whose centre is on land, quartered in the urban core, with each one's nearest seat."""
    dx, dy = step / COS_LAT / KM_PER_DEG_LAT, step / KM_PER_DEG_LAT
    xs = [_r(BBOX[0] + i * dx) for i in range(int((BBOX[2] - BBOX[0]) / dx) + 2)]
    ys = [_r(BBOX[1] + j * dy) for j in range(int((BBOX[3] - BBOX[1]) / dy) + 2)]
    gx, gy = np.meshgrid(np.arange(len(xs) - 1), np.arange(len(ys) - 1))
    gx, gy = gx.ravel(), gy.ravel()
    urban = _km((np.add(xs[:-1], xs[1:]) / 2)[gx] - CITY_CENTRE[0],
                (np.add(ys[:-1], ys[1:]) / 2)[gy] - CITY_CENTRE[1]) <= URBAN_RADIUS_KM
    rects: list[Rect] = []
    for i, j, quarter in zip(gx.tolist(), gy.tolist(), urban.tolist(), strict=True):
        x0, y0, x1, y1 = xs[i], ys[j], xs[i + 1], ys[j + 1]
        if quarter:
            xm, ym = _r((x0 + x1) / 2), _r((y0 + y1) / 2)
            rects += [(x0, y0, xm, ym), (xm, y0, x1, ym), (x0, ym, xm, y1), (xm, ym, x1, y1)]
        else:
            rects.append((x0, y0, x1, y1))
    box = np.array(rects)
    cx, cy = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    land = shapely.contains_xy(shapely.Polygon(OUTLINE), cx, cy)
    _, seats = _seats()
    cx, cy = cx[land], cy[land]
    nearest = np.argmin(_km(cx[:, None] - seats[None, :, 0], cy[:, None] - seats[None, :, 1]), axis=1)
    return [r for r, keep in zip(rects, land, strict=True) if keep], nearest


def _halve(r: Rect) -> tuple[Rect, Rect]:
    x0, y0, x1, y1 = r
    if (x1 - x0) * COS_LAT >= (y1 - y0):
        xm = _r((x0 + x1) / 2)
        return (x0, y0, xm, y1), (xm, y0, x1, y1)
    ym = _r((y0 + y1) / 2)
    return (x0, y0, x1, ym), (x0, ym, x1, y1)


def _area(r: Rect) -> float:
    return (r[2] - r[0]) * (r[3] - r[1])


def _split_largest(rects: list[Rect]) -> None:
    i = max(range(len(rects)), key=lambda k: (_area(rects[k]), -rects[k][1], -rects[k][0]))
    rects[i:i + 1] = _halve(rects[i])


def _villages_per_town(t: int) -> int:
    return 9 + (t % 4)


@functools.cache
def _town_cells() -> dict[str, list[Rect]]:
    """Each town's grid rectangles: the coarsest lattice that yields at most 8,450, then halves to make it exact."""
    codes, _ = _seats()
    need = {code: _villages_per_town(int(code[-3:]) - 101) for code in codes}
    step = STEP_KM  # the search starts where it ended last time: places.py changed, it may go on
    while True:
        rects, nearest = _cells(step)
        by_town: dict[str, list[Rect]] = {code: [] for code in codes}
        for r, n in zip(rects, nearest, strict=True):
            by_town[codes[n]].append(r)
        for code, own in by_town.items():
            while own and len(own) < need[code]:  # every village gets at least one grid
                _split_largest(own)
        if all(by_town.values()) and sum(map(len, by_town.values())) <= COMPREHENSIVE_GRIDS:
            break
        step = round(step + 0.02, 3)
    ordered = sorted(by_town, key=lambda c: -max(_area(r) for r in by_town[c]))
    short = COMPREHENSIVE_GRIDS - sum(map(len, by_town.values()))
    for i in range(short):  # rural towns (largest rectangles) first, one halving per town in turn
        _split_largest(by_town[ordered[i % len(ordered)]])
    return by_town


def _in_rows(rects: list[Rect]) -> list[Rect]:
    """Rectangles in rows, alternating direction, so that consecutive runs (villages) are compact."""
    height = min(r[3] - r[1] for r in rects) * 4
    def key(r: Rect) -> tuple[int, float, float]:
        row = int((r[1] - BBOX[1]) / height)
        return row, (r[0] if row % 2 == 0 else -r[0]), r[1]
    return sorted(rects, key=key)


def _runs(items: list[Rect], n: int) -> list[list[Rect]]:
    edges = [round(len(items) * i / n) for i in range(n + 1)]
    return [items[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _outline(rects: list[Rect]) -> shapely.Geometry:
    return shapely.union_all(shapely.box(*np.array(rects).T)).simplify(0)


def _bounds(rects: list[Rect]) -> tuple[float, float, float, float]:
    box = np.array(rects)
    return (float(box[:, 0].min()), float(box[:, 1].min()), float(box[:, 2].max()), float(box[:, 3].max()))


@functools.cache
def _build() -> tuple[tuple[Unit, ...], tuple[GridRecord, ...], dict[str, list[Rect]]]:
    units: list[Unit] = [Unit(CITY_CODE, "南通市", "city", None, centroid=CITY_CENTRE)]
    units += [Unit(f"{CITY_CODE}-{f}", f"南通市{n}", "department", CITY_CODE, f) for f, n in FUNCTIONS]
    cells = _town_cells()
    areas: dict[str, list[Rect]] = {}
    villages: list[tuple[str, str, str, list[Rect]]] = []
    for c_code, c_name, c_seat in COUNTIES:
        units.append(Unit(c_code, c_name, "county", CITY_CODE, centroid=c_seat))
        short = c_name[:2]
        units += [Unit(f"{c_code}-{f}", f"{short}{n}", "department", c_code, f) for f, n in FUNCTIONS]
        for t, (t_name, seat) in enumerate(TOWNS[c_code]):
            t_code = f"{c_code}{t + 101:03d}"
            units.append(Unit(t_code, t_name, "town", c_code, centroid=seat))
            street = t_name.endswith("街道")
            for v, own in enumerate(_runs(_in_rows(cells[t_code]), _villages_per_town(t))):
                v_code = f"{t_code}{v + 1:03d}"
                kind = "community" if (street or v % 4 == 0) else "village"
                name = f"{VILLAGE_STEMS[(t * 7 + v) % len(VILLAGE_STEMS)]}{'社区' if kind == 'community' else '村'}"
                areas[v_code] = own
                x0, y0, x1, y1 = own[len(own) // 2]  # a grid in the middle of the village's run
                units.append(Unit(v_code, name, kind, t_code, centroid=(_r((x0 + x1) / 2), _r((y0 + y1) / 2))))
                villages.append((v_code, t_code, c_code, own))
            areas[t_code] = cells[t_code]
        areas[c_code] = [r for t in range(len(TOWNS[c_code])) for r in cells[f"{c_code}{t + 101:03d}"]]
    areas[CITY_CODE] = [r for own in cells.values() for r in own]
    unit_names = {u.code: u.name for u in units}
    grids: list[GridRecord] = []
    ded_per, ded_extra = divmod(DEDICATED_GRIDS, len(villages))
    seed = 0
    for i, (v_code, t_code, c_code, own) in enumerate(villages):
        comp = []
        for g, (x0, y0, x1, y1) in enumerate(own):
            seed += 1
            leader, worker = _person(seed), _person(seed + 100_000)
            comp.append(GridRecord(
                f"{v_code}{g + 1:03d}", f"{unit_names[t_code]}{unit_names[v_code]}第{g + 1}网格", "comprehensive", None,
                v_code, t_code, c_code, _rect(x0, y0, x1, y1),
                (Member(leader[0], "grid_leader", leader[1]), Member(worker[0], "grid_worker", worker[1]))))
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
    return tuple(units), tuple(grids), areas


def units() -> list[Unit]:
    """Every unit of the demo city: city, counties, towns, villages/communities, departments."""
    return list(_build()[0])


def grids() -> list[GridRecord]:
    """The demo city's 9,303 grids."""
    return list(_build()[1])


@functools.cache
def outlines() -> dict[str, shapely.Geometry]:
    """The area of the city, each county and town: the union of its comprehensive grids (shapely Polygons)."""
    areas = _build()[2]
    shapes = {code: _outline(rects) for code, rects in areas.items() if len(code) == 9}
    for code, _, _ in COUNTIES:  # counties and the city from their towns: far fewer edges than their grids
        shapes[code] = shapely.union_all([s for t, s in shapes.items() if t.startswith(code)]).simplify(0)
    shapes[CITY_CODE] = shapely.union_all([shapes[code] for code, _, _ in COUNTIES]).simplify(0)
    return shapes


@functools.cache
def boxes() -> dict[str, tuple[float, float, float, float]]:
    """Bounding rectangles of the city, counties, towns and villages (lon_min, lat_min, lon_max, lat_max)."""
    return {code: _bounds(rects) for code, rects in _build()[2].items()}


def cells(code: str) -> list[tuple[float, float, float, float]]:
    """The rectangles (lon_min, lat_min, lon_max, lat_max) that exactly cover a county, town or village: a point
    drawn inside one of them lies in that unit (its bounding box may reach into the neighbours)."""
    return list(_build()[2].get(code, ()))


def seats() -> dict[str, tuple[float, float]]:
    """Town code → the (lon, lat) of its seat of government."""
    codes, xy = _seats()
    return {code: (float(x), float(y)) for code, (x, y) in zip(codes, xy, strict=True)}


def units_as_dicts() -> list[dict]:
    return [asdict(u) for u in units()]

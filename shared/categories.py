"""The category code table (诉求分类): big class (大类) → middle class (中类) → small class (小类).

Codes extend their parent by two digits: `01` 市政设施 → `0101` 道路桥梁 → `010101` 道路破损坑洼. Each row says
who owns the matter by default: `territorial` (属地: the town handles it) or `department:<function>` (a functional
department at county level, or at city level when `city_level` is set). A row may hand the matter to an
emergency line (110/119/120/122) instead of 12345. Urgency, owner and emergency line are inherited from the
parent when a row leaves them out, so a small class only states what differs.

The shipped table is `shared/reference/categories.yaml`. Parsing (YAML or CSV text → rows) is kept apart from
the table logic (`CategoryTable.from_rows`), so a city can import its own table from either format.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent / "reference" / "categories.yaml"
TERRITORIAL = "territorial"
DEPARTMENT_PREFIX = "department:"
URGENCIES = ("normal", "urgent")
EMERGENCY_LINES = ("110", "119", "120", "122")
_TRUE = {"true", "yes", "1", "y", "是"}
_FALSE = {"false", "no", "0", "n", "否", ""}


class CategoryLevel(IntEnum):
    BIG = 1  # 大类
    MIDDLE = 2  # 中类
    SMALL = 3  # 小类

    @property
    def label(self) -> str:
        return {1: "大类", 2: "中类", 3: "小类"}[self.value]


class CategoryTableError(ValueError):
    """The table itself is wrong; `problems` lists every row that is, so one import shows them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid category table:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    level: CategoryLevel
    parent_code: str | None
    default_urgency: str  # normal | urgent (the values of shared.events.v1.Urgency)
    owner: str  # territorial | department:<function>
    city_level: bool = False  # the department at city level owns it, not the county's
    emergency_line: str | None = None  # 110 | 119 | 120 | 122: not a 12345 matter, hand over at once
    declares_owner: bool = False  # the row states its owner or level (not inherited): a catalogue duty rule

    @property
    def is_territorial(self) -> bool:
        return self.owner == TERRITORIAL

    @property
    def is_department(self) -> bool:
        return self.owner.startswith(DEPARTMENT_PREFIX)

    @property
    def owner_function(self) -> str | None:
        """The department function (water, roads, ...) for a department category, else None."""
        return self.owner.removeprefix(DEPARTMENT_PREFIX) if self.is_department else None

    @property
    def duty_owner(self) -> str:
        """The owner as a duties-list responsibility: `town`, `department:<f>` or `department:<f>@city`."""
        if self.is_territorial:
            return "town"
        return f"{self.owner}@city" if self.city_level else self.owner


class CategoryTable:
    """A validated, immutable category table. Build it with `from_rows` or `load`."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self._by_code: dict[str, Category] = {}
        for category in sorted(categories, key=lambda c: c.code):
            self._by_code[category.code] = category
        self._children: dict[str | None, list[str]] = {}
        for category in self._by_code.values():
            self._children.setdefault(category.parent_code, []).append(category.code)

    @classmethod
    def load(cls, path: str | Path | None = None) -> CategoryTable:
        """The table from a YAML (or, by suffix, CSV) file; the shipped table when no path is given."""
        path = Path(path) if path is not None else DEFAULT_PATH
        text = path.read_text(encoding="utf-8")
        rows = parse_csv(text) if path.suffix.lower() == ".csv" else parse_yaml(text)
        return cls.from_rows(rows)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> CategoryTable:
        """A table from flat rows (code, name, [level, parent, default_urgency, owner, city_level,
        emergency_line]); inherited fields are filled from the parent. Raises CategoryTableError."""
        return cls(_build(list(rows)))

    def get(self, code: str) -> Category | None:
        return self._by_code.get(code)

    def require(self, code: str) -> Category:
        """The category, or KeyError naming the unknown code."""
        try:
            return self._by_code[code]
        except KeyError:
            raise KeyError(f"unknown category {code!r}") from None

    def ancestors(self, code: str) -> tuple[Category, ...]:
        """The parent, grandparent, ... of `code` (nearest first), without the category itself."""
        out: list[Category] = []
        current = self.require(code).parent_code
        while current is not None:
            parent = self._by_code[current]
            out.append(parent)
            current = parent.parent_code
        return tuple(out)

    def path(self, code: str) -> tuple[Category, ...]:
        """Big class first, the category itself last: a breadcrumb (市政设施 › 道路桥梁 › 道路破损坑洼)."""
        return (*reversed(self.ancestors(code)), self.require(code))

    def children(self, code: str | None) -> tuple[Category, ...]:
        """The direct children of `code`; the big classes for None."""
        return tuple(self._by_code[c] for c in self._children.get(code, ()))

    def roots(self) -> tuple[Category, ...]:
        return self.children(None)

    def leaves(self) -> tuple[Category, ...]:
        """The categories without children (the ones an order is filed under), in code order."""
        return tuple(c for c in self._by_code.values() if c.code not in self._children)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code


def parse_yaml(text: str) -> list[dict[str, Any]]:
    """Rows from the YAML format: a mapping with a `categories:` list (or a bare list) of row mappings."""
    data = yaml.safe_load(text)
    rows = data.get("categories") if isinstance(data, Mapping) else data
    if not isinstance(rows, list):
        raise CategoryTableError(["the YAML must hold a list of rows under `categories:`"])
    return [dict(r) if isinstance(r, Mapping) else {"_invalid": r} for r in rows]


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Rows from CSV text with a header line (code,name,default_urgency,owner,city_level,emergency_line...)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    return [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k} for row in reader]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _flag(value: Any, row: str, problems: list[str]) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False if text else None
    problems.append(f"{row}: city_level must be true or false, not {value!r}")
    return None


def _build(rows: list[Mapping[str, Any]]) -> list[Category]:
    problems: list[str] = []
    declared: dict[str, dict[str, Any]] = {}
    for index, row in enumerate(rows, start=1):
        where = f"row {index}"
        if "_invalid" in row:
            problems.append(f"{where}: expected a mapping, got {row['_invalid']!r}")
            continue
        raw_code = row.get("code")
        if not isinstance(raw_code, str):
            # An unquoted YAML code such as 0101 arrives as a number and loses its leading zero.
            problems.append(f"{where}: code must be a string of digits (quote it in YAML), got {raw_code!r}")
            continue
        code = raw_code.strip()
        where = f"category {code!r}"
        if not code.isdigit() or len(code) % 2 or not 2 <= len(code) <= 6:
            problems.append(f"{where}: code must be 2, 4 or 6 digits (大类/中类/小类)")
            continue
        if code in declared:
            problems.append(f"{where}: code appears twice")
            continue
        name = _text(row.get("name"))
        if not name:
            problems.append(f"{where}: name is missing")
        level = len(code) // 2
        given_level = _text(row.get("level"))
        if given_level is not None and given_level != str(level):
            problems.append(f"{where}: level {given_level} does not match a {len(code)}-digit code (level {level})")
        parent = code[:-2] or None
        given_parent = _text(row.get("parent") or row.get("parent_code"))
        if given_parent is not None and given_parent != parent:
            problems.append(f"{where}: code does not extend its parent {given_parent!r}")
        urgency = _text(row.get("default_urgency"))
        if urgency is not None and urgency not in URGENCIES:
            problems.append(f"{where}: default_urgency must be one of {', '.join(URGENCIES)}, not {urgency!r}")
        owner = _text(row.get("owner"))
        if owner is not None and owner != TERRITORIAL and not (
                owner.startswith(DEPARTMENT_PREFIX) and owner.removeprefix(DEPARTMENT_PREFIX).isidentifier()):
            problems.append(f"{where}: owner must be 'territorial' or 'department:<function>', not {owner!r}")
        line = _text(row.get("emergency_line"))
        if line is not None and line not in EMERGENCY_LINES:
            problems.append(f"{where}: emergency_line must be one of {', '.join(EMERGENCY_LINES)}, not {line!r}")
        city_level = _flag(row.get("city_level"), where, problems)
        declared[code] = {"name": name or "", "level": level, "parent": parent, "urgency": urgency,
                          "owner": owner, "city_level": city_level, "line": line}
    resolved: dict[str, Category] = {}
    for code in sorted(declared, key=lambda c: (len(c), c)):  # parents before children
        row = declared[code]
        parent = resolved.get(row["parent"]) if row["parent"] else None
        if row["parent"] and parent is None:
            if row["parent"] in declared:
                continue  # the parent itself failed; it has its own problem line
            problems.append(f"category {code!r}: parent {row['parent']!r} does not exist")
            continue
        owner = row["owner"] or (parent.owner if parent else None)
        if owner is None:
            problems.append(f"category {code!r}: a big class must declare its owner")
            continue
        if row["owner"]:
            city_level = bool(row["city_level"])
        else:
            city_level = row["city_level"] if row["city_level"] is not None else bool(parent and parent.city_level)
        if city_level and owner == TERRITORIAL:
            problems.append(f"category {code!r}: city_level only applies to a department owner")
        resolved[code] = Category(
            code=code, name=row["name"], level=CategoryLevel(row["level"]), parent_code=row["parent"],
            default_urgency=row["urgency"] or (parent.default_urgency if parent else "normal"),
            owner=owner, city_level=bool(city_level),
            emergency_line=row["line"] or (parent.emergency_line if parent else None),
            declares_owner=row["owner"] is not None or row["city_level"] is not None,
        )
    if problems:
        raise CategoryTableError(problems)
    return list(resolved.values())

"""What every request to a documented API operation must satisfy, checked once for all services.

`create_app` runs `check_input` before every route's own parameters are parsed:
- **Unknown query parameters** are refused with 422 naming them: a misspelt filter (`/grids?town=` for
  `town_code=`) must not silently answer with everything. Routes that parse their query themselves (Open311's
  spec arguments) opt out of this one check with `dependencies=[OWN_QUERY]` on their router. Routes outside the
  OpenAPI (pages, which read `?token=`) are not checked at all.
- **NUL characters** (U+0000) anywhere in text — query, path, JSON body, form fields — are refused with 422
  naming the field (type `nul_character`), never stripped: PostgreSQL cannot store them in text, and silently
  changing what a caller sent would store something else than they meant. One rule on SQLite and PostgreSQL.
- **Integers beyond 64 bits** in integer query/path parameters and anywhere in a JSON body are refused with
  422 (type `out_of_range`): no database column holds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from shared.errors import Invalid

INT64 = 2**63 - 1


async def own_query_parsing() -> None:
    """Marker: this route reads its query string itself (see module docstring)."""


OWN_QUERY = Depends(own_query_parsing)


class _RouteInputs:
    """What one route declares: its query names, and which query/path parameters are integers."""

    def __init__(self, route: APIRoute) -> None:
        dependants = [route.dependant, *_all_dependencies(route.dependant)]
        query = [p for d in dependants for p in d.query_params]
        path = [p for d in dependants for p in d.path_params]
        self.checked = route.include_in_schema
        self.own_query = any(d.call is own_query_parsing for d in dependants)
        self.query = {name for p in query for name in _names(p)}
        self.integers = {(where, p.alias) for where, params in (("query", query), ("path", path))
                         for p in params if _is_int(p.field_info.annotation)}


def _names(param: Any) -> list[str]:
    """A query parameter's name, or the field names of a pydantic model declared as the query."""
    fields = getattr(param.field_info.annotation, "model_fields", None)
    if isinstance(fields, dict):
        return [f.alias or n for n, f in fields.items()]
    return [param.alias]


def _all_dependencies(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub
        yield from _all_dependencies(sub)


def _is_int(annotation: Any) -> bool:
    return annotation is int or (int in get_args(annotation) and bool not in get_args(annotation))


_CACHE: dict[int, _RouteInputs] = {}


def _inputs(route: APIRoute) -> _RouteInputs:
    found = _CACHE.get(id(route))
    if found is None:
        found = _CACHE[id(route)] = _RouteInputs(route)
    return found


def _error(field: str, where: str, message: str, type_: str) -> dict[str, str]:
    return {"field": field, "in": where, "message": message, "type": type_}


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON value with its dotted path (list items by index)."""
    if isinstance(value, dict):
        for key, child in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                yield key_path, str(key)
            yield from _walk(child, key_path)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk(child, f"{path}.{i}" if path else str(i))
    else:
        yield path or "body", value


def _leaf_errors(value: Any, field: str, where: str) -> list[dict[str, str]]:
    if isinstance(value, str) and "\x00" in value:
        return [_error(field, where, "不能包含空字符 (U+0000)", "nul_character")]
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 - 1 <= value <= INT64:
        return [_error(field, where, "数值超出 64 位整数范围", "out_of_range")]
    return []


async def check_input(request: Request) -> None:
    """Refuse unknown query parameters, NUL characters and over-large integers (see module docstring)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    inputs = _inputs(route)
    if not inputs.checked:
        return
    errors: list[dict[str, str]] = []
    for name, value in request.query_params.multi_items():
        if name not in inputs.query and not inputs.own_query:
            errors.append(_error(name, "query", f"未知的查询参数 {name!r}；可用：{', '.join(sorted(inputs.query)) or '无'}",
                                 "unknown_parameter"))
        elif "\x00" in value:
            errors.append(_error(name, "query", "不能包含空字符 (U+0000)", "nul_character"))
        elif ("query", name) in inputs.integers:
            errors += _integer_errors(value, name, "query")
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            errors.append(_error(name, "path", "不能包含空字符 (U+0000)", "nul_character"))
        elif ("path", name) in inputs.integers:
            errors += _integer_errors(str(value), name, "path")
    errors += await _body_errors(request)
    if errors:
        raise Invalid.of(errors)


def _integer_errors(raw: str, field: str, where: str) -> list[dict[str, str]]:
    text = raw.strip()
    if text.lstrip("+-").isdigit() and len(text) > 18:
        return _leaf_errors(int(text), field, where)
    return []


async def _body_errors(request: Request) -> list[dict[str, str]]:
    """NULs and huge integers in the body FastAPI has already read (JSON or a form; files are bytes)."""
    content_type = request.headers.get("content-type", "")
    errors: list[dict[str, str]] = []
    if "json" in content_type:
        try:
            document = await request.json() if await request.body() else None
        except ValueError:  # not JSON: the route's own parsing answers that
            return []
        for field, value in _walk(document, "") if document is not None else ():
            errors += _leaf_errors(value, field, "body")
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            if getattr(request, "_form", None) is None:  # not parsed by FastAPI: keep the bytes for the route
                await request.body()
            form = await request.form()
        except Exception:  # a malformed form: the route's own parsing answers that  # noqa: BLE001
            return []
        for name, value in form.multi_items():
            if isinstance(value, str):
                errors += _leaf_errors(value, name, "form")
    return errors

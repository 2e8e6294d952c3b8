"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) as pure mappings: no HTTP here.

City apps speak GeoReport: a service list (our categories), service requests (our incidents/orders) and
a status that is only `open` or `closed`. The entrypoint does routing, api_key checks and formats; this
module turns our records into the spec's fields and the spec's form fields into a validated request.
Errors are always a list of {code, description}, as the spec demands.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl

DEFAULT_WINDOW = timedelta(days=90)  # GET requests without dates: the last 90 days
MAX_WINDOW = timedelta(days=90)  # a start/end range may not span more than 90 days
MAX_REQUESTS = 1000  # GET requests returns at most the first 1,000
MAX_DESCRIPTION = 4000  # the spec's limit on a request's description
# 办结 and 回访 mean the unit resolved it; a reopened order (重办) goes back to an open state.
CLOSED_STATES = frozenset({"closed", "followed_up", "archived", "merged"})


class CategoryLike(Protocol):
    code: str
    name: str


class Open311Error(Exception):
    """One GeoReport error; `errors()` is the body to send with HTTP status `code`."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description

    def errors(self) -> list[dict[str, Any]]:
        return error(self.code, self.description)


def error(code: int, description: str) -> list[dict[str, Any]]:
    """The spec's error body: a list of {code, description}."""
    return [{"code": code, "description": description}]


def service_from_category(category: CategoryLike, *, group: str | None = None, description: str | None = None,
                          keywords: Iterable[str] = (), attributes: Sequence[Mapping[str, Any]] = ()
                          ) -> dict[str, Any]:
    """One entry of GET services: a category offered to city apps (realtime: we answer with an id)."""
    words = [w.strip() for w in keywords if w and w.strip()]
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": description or category.name,
        "metadata": bool(attributes),  # true: GET services/{code} lists attributes the app should ask for
        "type": "realtime",
        "keywords": ",".join(dict.fromkeys(words)),
        "group": group or "",
    }


def service_definition(category: CategoryLike, attributes: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """GET services/{service_code}: the attributes a request for this service may carry."""
    return {"service_code": category.code, "attributes": [dict(a) for a in attributes]}


URGENCY_ATTRIBUTE: dict[str, Any] = {
    "variable": True,
    "code": "urgency",
    "datatype": "singlevaluelist",
    "required": False,
    "datatype_description": "normal 或 urgent；不填按分类默认",
    "order": 1,
    "description": "是否紧急（危及生命财产安全，或停水停电停气）",
    "values": [{"key": "normal", "name": "一般"}, {"key": "urgent", "name": "紧急"}],
}
DETAIL_ATTRIBUTE: dict[str, Any] = {
    "variable": True,
    "code": "detail",
    "datatype": "text",
    "required": False,
    "datatype_description": "至多 500 字",
    "order": 2,
    "description": "补充说明（楼栋、门牌、持续时间等）",
    "values": [],
}
MAX_DETAIL = 500


def attributes_for(default_urgency: str | None) -> tuple[dict[str, Any], ...]:
    """A category that is urgent by default needs no urgency question; every other one offers it."""
    if default_urgency == "urgent":
        return ()
    return (URGENCY_ATTRIBUTE, DETAIL_ATTRIBUTE)


def check_attributes(given: Mapping[str, str | list[str]], attributes: Sequence[Mapping[str, Any]]
                     ) -> dict[str, str | list[str]]:
    """The request's attribute values checked against the service definition; unknown codes are a 400."""
    by_code = {a["code"]: a for a in attributes}
    for code in given:
        if code not in by_code:
            raise Open311Error(400, f"attribute[{code}] is not an attribute of this service")
    out: dict[str, str | list[str]] = {}
    for code, attribute in by_code.items():
        value = given.get(code)
        empty = value is None or value == "" or value == []
        if empty:
            if attribute.get("required"):
                raise Open311Error(400, f"attribute[{code}] is required for this service")
            continue
        datatype = attribute["datatype"]
        keys = {str(v["key"]) for v in attribute.get("values", ())}
        if datatype == "multivaluelist":
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if v not in keys]
            if bad:
                raise Open311Error(400, f"attribute[{code}] has values not in its list: {', '.join(bad)}")
            out[code] = list(values)
            continue
        if isinstance(value, list):
            raise Open311Error(400, f"attribute[{code}] takes one value")
        if datatype == "singlevaluelist" and value not in keys:
            raise Open311Error(400, f"attribute[{code}] must be one of {', '.join(sorted(keys))}: {value!r}")
        if datatype == "number":
            try:
                if not math.isfinite(float(value)):
                    raise ValueError(value)
            except ValueError:
                raise Open311Error(400, f"attribute[{code}] is not a number: {value!r}") from None
        if datatype in ("string", "text") and len(value) > MAX_DETAIL:
            raise Open311Error(400, f"attribute[{code}] longer than {MAX_DETAIL} characters")
        if datatype == "string" and "\n" in value:
            raise Open311Error(400, f"attribute[{code}] is a single line")
        out[code] = value
    return out


def status_from_order_state(state: str | None) -> str:
    """open or closed: a closed, archived or merged order is closed; everything else is still open."""
    value = getattr(state, "value", state)
    return "closed" if value is not None and str(value).lower() in CLOSED_STATES else "open"


def w3c_datetime(moment: datetime | None) -> str | None:
    """ISO 8601 with the zone, as the spec requires (a naive datetime is a programming error)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("Open311 datetimes carry a time zone; got a naive datetime")
    return moment.isoformat(timespec="seconds")


def request_view(*, service_request_id: str, state: str, service_code: str, service_name: str | None = None,
                 description: str | None = None, status_notes: str | None = None,
                 agency_responsible: str | None = None, requested_datetime: datetime,
                 updated_datetime: datetime | None = None, expected_datetime: datetime | None = None,
                 address: str | None = None, lat: float | None = None, long: float | None = None,
                 media_url: str | None = None) -> dict[str, Any]:
    """One element of GET requests / GET requests/{id}."""
    return {
        "service_request_id": service_request_id,
        "status": status_from_order_state(state),
        "status_notes": status_notes,
        "service_name": service_name,
        "service_code": service_code,
        "description": description,
        "agency_responsible": agency_responsible,
        "service_notice": None,
        "requested_datetime": w3c_datetime(requested_datetime),
        "updated_datetime": w3c_datetime(updated_datetime),
        "expected_datetime": w3c_datetime(expected_datetime),
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": long,
        "media_url": media_url,
    }


def created_response(*, service_request_id: str, service_notice: str | None = None) -> list[dict[str, Any]]:
    """POST requests answer: a realtime service returns the new id at once (never a token)."""
    return [{"service_request_id": service_request_id, "service_notice": service_notice, "account_id": None}]


@dataclass(frozen=True, kw_only=True)
class Open311Request:
    """A validated POST requests form."""

    service_code: str
    description: str | None = None
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    email: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    media_url: str | None = None
    attributes: dict[str, str | list[str]] = field(default_factory=dict)


def _text(form: Mapping[str, Any], key: str) -> str | None:
    value = form.get(key)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _coordinate(form: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    raw = _text(form, key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{key} is not a number: {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise Open311Error(400, f"{key} out of range [{low}, {high}]: {raw}")
    return value


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """A POST body's urlencoded fields, in order (at most 200); the spec's 400 for one that is not UTF-8 or
    cannot be split."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, encoding="utf-8",
                         errors="strict", max_num_fields=200)
    except UnicodeDecodeError:
        raise Open311Error(400, "the form is not valid UTF-8") from None
    except ValueError as exc:
        raise Open311Error(400, f"malformed form: {exc}") from None


def parse_attributes(form: Mapping[str, Any] | Sequence[tuple[str, str]]) -> dict[str, str | list[str]]:
    """attribute[code]=value, and attribute[code][]=v1&attribute[code][]=v2 for a multivaluelist."""
    pairs = form.items() if isinstance(form, Mapping) else form
    out: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if not key.startswith("attribute[") or value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if key.endswith("][]"):
            code = key[len("attribute["):-3]
            current = out.setdefault(code, [])
            if isinstance(current, list):
                current.extend(str(v).strip() for v in values)
        elif key.endswith("]"):
            out[key[len("attribute["):-1]] = str(values[-1]).strip()
        else:
            raise Open311Error(400, f"malformed attribute field {key!r}: use attribute[code]=value")
    return out


def parse_service_request(form: Mapping[str, Any]) -> Open311Request:
    """Validate a POST requests form: a service_code, and a location (lat+long, address_string or address_id)."""
    service_code = _text(form, "service_code")
    if service_code is None:
        raise Open311Error(400, "service_code is required")
    lat = _coordinate(form, "lat", -90, 90)
    long = _coordinate(form, "long", -180, 180)
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat and long must be given together")
    address_string, address_id = _text(form, "address_string"), _text(form, "address_id")
    if lat is None and address_string is None and address_id is None:
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    description = _text(form, "description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description longer than {MAX_DESCRIPTION} characters")
    attributes = parse_attributes(form)
    return Open311Request(
        service_code=service_code, description=description, lat=lat, long=long, address_string=address_string,
        address_id=address_id, email=_text(form, "email"), device_id=_text(form, "device_id"),
        account_id=_text(form, "account_id"), first_name=_text(form, "first_name"),
        last_name=_text(form, "last_name"), phone=_text(form, "phone"), media_url=_text(form, "media_url"),
        attributes=attributes)


@dataclass(frozen=True, kw_only=True)
class RequestQuery:
    """GET requests filters after defaults: ids win over every other filter, as the spec says."""

    service_request_ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None
    limit: int = MAX_REQUESTS


def _parse_datetime(form: Mapping[str, Any], key: str) -> datetime | None:
    raw = _text(form, key)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise Open311Error(400, f"{key} is not an ISO 8601 datetime: {raw!r}") from None
    if value.tzinfo is None:
        raise Open311Error(400, f"{key} must carry a time zone (Z or ±HH:MM): {raw!r}")
    return value


def _list(form: Mapping[str, Any], key: str) -> tuple[str, ...]:
    raw = _text(form, key)
    return tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip())) if raw else ()


def request_query(form: Mapping[str, Any], *, now: datetime) -> RequestQuery:
    """GET requests parameters with the spec's defaults: the last 90 days, at most 1,000 requests."""
    ids = _list(form, "service_request_id")
    if ids:
        return RequestQuery(service_request_ids=ids, limit=min(len(ids), MAX_REQUESTS))
    statuses = _list(form, "status")
    for value in statuses:
        if value not in ("open", "closed"):
            raise Open311Error(400, f"status must be open or closed: {value!r}")
    status = statuses[0] if len(set(statuses)) == 1 else None  # both, or none: every status
    start, end = _parse_datetime(form, "start_date"), _parse_datetime(form, "end_date")
    if start is None and end is None:
        end, start = now, now - DEFAULT_WINDOW
    elif start is None:
        start = end - DEFAULT_WINDOW
    elif end is None:
        end = start + DEFAULT_WINDOW
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_WINDOW:
        raise Open311Error(400, f"a date range may not span more than {MAX_WINDOW.days} days")
    return RequestQuery(service_codes=_list(form, "service_code"), start=start, end=end, status=status)


def status_notes(*, state: str | None, action: str | None, agency: str | None, reason: str | None = None) -> str:
    """What a citizen may read about the progress: the step taken and who holds it, never who complained."""
    value = str(getattr(state, "value", state) or "")
    where = f"（{agency}）" if agency else ""
    notes = {
        "": "已受理，等待派单",
        "accepted": "已受理，等待派单",
        "queued": "已受理，正在确定承办单位",
        "dispatched": f"已派单{where}",
        "signed": f"承办单位已签收{where}",
        "in_progress": f"正在办理{where}",
        "return_requested": "承办单位申请退单，正在重新确定承办单位",
        "closed": f"已办结{where}",
        "followed_up": "已办结并回访",
        "archived": "已办结归档",
        "merged": "与其他诉求合并办理",
    }
    text = notes.get(value, f"处理中{where}")
    if action == "reopen":
        text = f"重新办理{where}"
    elif action == "approve_extension":
        text = f"办理时限已延长{where}"
    elif action == "escalate":
        text = f"已提级办理{where}"
    if reason and value in ("closed", "merged"):
        text = f"{text}：{reason[:200]}"
    return text


def token_response(*, token: str, service_request_id: str) -> list[dict[str, Any]]:
    """GET tokens/{token}: the request the token stands for."""
    return [{"service_request_id": service_request_id, "token": token}]


SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


def discovery(*, base_url: str, changeset: str, contact: str, key_service: str) -> dict[str, Any]:
    """The Service Discovery document: one production GeoReport v2 endpoint in XML and JSON."""
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [{"specification": SPECIFICATION, "url": base_url, "changeset": changeset,
                       "type": "production", "formats": ["text/xml", "application/json"]}],
    }

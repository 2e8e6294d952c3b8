"""Open311 GeoReport v2 under /open311/v2/, and its Service Discovery document under /open311/.

Routes parse the path, query and form themselves (the spec's arguments are strings with their own rules),
so FastAPI never answers 422 here: every error is the spec's list of {code, description}, 400/403/404.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.intake.domain import open311
from services.intake.domain.open311 import Open311Error
from services.intake.entrypoints.formats import render
from services.intake.service import handlers
from shared import apikeys, idempotency
from shared.deps import RuntimeDep, UowDep
from shared.events.envelope import utcnow
from shared.inputs import OWN_QUERY

PREFIX = "/open311/v2"
# The spec's arguments are parsed by the routes themselves (jurisdiction_id, api_key, attribute[...]).
router = APIRouter(tags=["open311"], dependencies=[OWN_QUERY], responses={"4XX": {
    "description": "the spec's error list", "content": {"application/json": {"schema": {
        "type": "array", "items": {"type": "object", "required": ["code", "description"],
                                   "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}},
        "text/xml": {"schema": {"type": "string"}}}}})
FORMATS = ("json", "xml")
FORM_TYPE = "application/x-www-form-urlencoded"


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"format {fmt!r} not supported: use .json or .xml")
    return fmt


def error_format(path: str) -> str:
    return "xml" if path.rstrip("/").endswith(".xml") else "json"


def error_response(request: Request, exc: Open311Error) -> Response:
    """The spec's error body in the format the path asked for."""
    return render(error_format(request.url.path), "errors", exc.errors(), status_code=exc.code)


def _reference(request: Request) -> handlers.Reference:
    return request.app.state.reference


def _query(request: Request) -> dict[str, str]:
    # jurisdiction_id is accepted and ignored: one endpoint serves one city (the spec allows that).
    return dict(request.query_params)


@router.get("/open311/discovery.{fmt}", summary="Open311 Service Discovery")
async def discovery(fmt: str, request: Request) -> Response:
    fmt = _format(fmt)
    settings = request.app.state.settings
    base = str(request.base_url).rstrip("/") + PREFIX
    body = open311.discovery(base_url=base, changeset="2026-11-23 00:00", contact=settings.open311_contact,
                             key_service=f"{settings.open311_contact}: API keys are issued per integration "
                                         "(mcc apikey issue --service intake)")
    return render(fmt, "discovery", body)


@router.get(PREFIX + "/services.{fmt}", summary="GET Service List")
async def services(fmt: str, request: Request) -> Response:
    fmt = _format(fmt)
    return render(fmt, "services", handlers.open311_services(_reference(request)))


@router.get(PREFIX + "/services/{service_code}.{fmt}", summary="GET Service Definition")
async def service_definition(service_code: str, fmt: str, request: Request) -> Response:
    fmt = _format(fmt)
    _, definition = handlers.open311_service(_reference(request), service_code=service_code)
    return render(fmt, "service_definition", definition)


async def _form(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise Open311Error(400, f"POST requests takes Content-Type: {FORM_TYPE}, not {content_type or 'none'}")
    return open311.parse_form(await request.body())


def _single(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        if key.startswith("attribute["):
            continue
        if key in out and out[key] != value:
            raise Open311Error(400, f"{key} given twice")
        out[key] = value
    return out


def _no_key() -> Open311Error:
    return Open311Error(403, "Missing or invalid api_key -- can't proceed with create_request")


@dataclasses.dataclass(frozen=True)
class KeyedForm:
    """A POSTed form and the key it presents."""

    pairs: list[tuple[str, str]]
    form: dict[str, str]
    key: apikeys.ApiKey


async def keyed_form(fmt: str, request: Request) -> KeyedForm:
    """The form and its api_key (in the form or the query), checked by shared.apikeys.admit_key: 404 for a
    format other than json/xml, 400 for a body that is not one form, then 403 for a missing or wrong key."""
    _format(fmt)
    pairs = await _form(request)
    form = _single(pairs)
    key = await apikeys.admit_key(request, form.get("api_key") or request.query_params.get("api_key"),
                                  table=handlers.API_KEYS, missing=_no_key, invalid=_no_key)
    return KeyedForm(pairs, form, key)


@router.post(PREFIX + "/requests.{fmt}", summary="POST Service Request")
async def create_request(fmt: str, request: Request, runtime: RuntimeDep,
                         post: Annotated[KeyedForm, Depends(keyed_form)]) -> Response:
    parsed = dataclasses.replace(open311.parse_service_request(post.form),
                                 attributes=open311.parse_attributes(post.pairs))
    header = request.headers.get(idempotency.HEADER)
    if header is not None and not idempotency.valid_key(header):
        raise Open311Error(400, f"{idempotency.HEADER} must be 1-200 printable ASCII characters")
    fingerprint = idempotency.fingerprint(sorted((k, v) for k, v in post.pairs if k != "api_key"))
    status, body = await handlers.create_open311_request(
        new_uow=runtime.uow, request=parsed, key=post.key, reference=_reference(request), idempotency_key=header,
        fingerprint=fingerprint)
    return render(fmt, "service_requests", body, status_code=status)


@router.get(PREFIX + "/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
async def token(token: str, fmt: str, uow: UowDep) -> Response:
    fmt = _format(fmt)
    return render(fmt, "service_requests", await handlers.open311_token(uow, token=token))


@router.get(PREFIX + "/requests.{fmt}", summary="GET Service Requests")
async def list_requests(fmt: str, request: Request, uow: UowDep) -> Response:
    fmt = _format(fmt)
    query = open311.request_query(_query(request), now=utcnow())
    return render(fmt, "service_requests",
                  await handlers.open311_requests(uow, query=query, reference=_reference(request)))


@router.get(PREFIX + "/requests/{service_request_id}.{fmt}", summary="GET Service Request")
async def read_request(service_request_id: str, fmt: str, request: Request, uow: UowDep) -> Response:
    fmt = _format(fmt)
    return render(fmt, "service_requests", await handlers.open311_request(
        uow, service_request_id=service_request_id, reference=_reference(request)))


@router.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def not_found(rest: str, request: Request) -> Response:
    raise Open311Error(404, f"{request.method} {PREFIX}/{rest} is not a GeoReport v2 resource")

"""FastAPI app factory: health, readiness, metrics, field-level 4xx errors and a body-size limit."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import Invalid, Problem
from shared.idempotency import HEADER as IDEMPOTENCY_HEADER
from shared.idempotency import IdempotencyConflict
from shared.inputs import check_input
from shared.messages import field_message, status_code, status_text
from shared.metrics import MetricsMiddleware, metrics_endpoint
from shared.sessions import SessionMiddleware

log = logging.getLogger("mcc.http")


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors as [{field, message, type}], field as a dotted path without the 'body' prefix."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header", "form"):
            where, loc = loc[0], loc[1:]
        else:
            where = "body"
        out.append({"field": ".".join(loc) or where, "in": where, "message": field_message(err),
                    "type": err.get("type", "")})
    return out


# The documented shape of every refusal (shared/errors.py), declared in each service's OpenAPI in place of
# FastAPI's `{loc, msg, type}`, which no service sends.
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError", "type": "object", "required": ["field", "in", "message", "type"],
    "properties": {
        "field": {"type": "string", "description": "dotted path of the field, or the header/parameter name"},
        "in": {"type": "string", "enum": ["body", "query", "path", "header", "form", "cookie"]},
        "message": {"type": "string", "description": "what is wrong, for people"},
        "type": {"type": "string", "description": "what is wrong, for programs (stable)"},
    },
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem", "type": "object", "required": ["detail"],
    "description": "a refusal: field-level errors as a list, anything else as one message",
    "properties": {
        "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}}]},
        "code": {"type": "string", "description": "what went wrong, for programs (stable)"},
        "current_state": {"type": "string"},
        "allowed_actions": {"type": "array", "items": {"type": "string"}},
    },
}
VALIDATION_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError", "type": "object", "required": ["detail"],
    "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
                   "code": {"type": "string"}},
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the errors services really send: 422 as field errors on every operation (unknown query parameters
    and bad characters are refused everywhere), any other 4xx as a Problem."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("ValidationError", None)
    components.update(FieldError=FIELD_ERROR_SCHEMA, Problem=PROBLEM_SCHEMA, HTTPValidationError=VALIDATION_SCHEMA)
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                continue
            responses = operation.setdefault("responses", {})
            responses["422"] = {"description": "Validation Error", "content": ref}
            responses.setdefault("4XX", {"description": "Refused (see `detail`)", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    return schema


def binary_content(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route answering bytes (a photo, a CSV): its 200 declares these content types."""
    return {200: {"description": "the content", "content": {
        t: {"schema": {"type": "string", "format": "binary"}} for t in media_types}}}


# `responses=` for a JSON route that also answers CSV (`?format=csv`): both content types are declared.
ALSO_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


def problem_answer(problem: Problem) -> JSONResponse:
    """A use case's refusal (shared.errors) as the documented answer: routes never catch them."""
    return JSONResponse(problem.content(), status_code=problem.status, headers=problem.headers())


class BodySizeLimit:
    """Refuses request bodies over a limit with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0

        async def limited_receive():  # noqa: ANN202
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = JSONResponse({"detail": [{"field": "body", "in": "body", "type": "too_large",
                                     "message": f"请求体超过 {limit} 字节"}], "code": "too_large"}, 413).body
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(*, service: str, title: str, routers: Sequence[APIRouter],
               readiness: Callable[[], Awaitable[dict[str, str]]], required: Sequence[str] = ("database",),
               on_start: Callable[[], Awaitable[None]] | None = None,
               on_stop: Callable[[], Awaitable[None]] | None = None,
               max_body_bytes: int = 1_000_000, description: str = "") -> FastAPI:
    """One service's HTTP app with the endpoints and behaviour every service shares."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_start:
            await on_start()
        try:
            yield
        finally:
            if on_stop:
                await on_stop()

    # check_input runs first on every route: unknown query parameters, NULs, integers beyond 64 bits → 422.
    app = FastAPI(title=title, description=description, lifespan=lifespan, version="0.1.0",
                  dependencies=[Depends(check_input)])

    @app.get("/healthz", tags=["ops"], summary="alive")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "service": service, "pid": os.getpid()}

    @app.get("/readyz", tags=["ops"], summary="ready to accept work: what it needs is reachable (503 if not)")
    async def readyz() -> JSONResponse:
        # 503 only when a dependency the service cannot accept work without is down (its database); the rest
        # (NATS: events wait in the outbox; Redis, for the services that use it) is reported, status degraded.
        checks = await readiness()
        ready = all(checks.get(name) == "ok" for name in required)
        status = "unavailable" if not ready else "ok" if all(v == "ok" for v in checks.values()) else "degraded"
        # pid: `mcc up` counts a service ready only when the process it started is the one answering.
        return JSONResponse({"status": status, "service": service, "checks": checks, "required": list(required),
                             "pid": os.getpid()},
                            status_code=200 if ready else 503)

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "")
        if content_type and "json" not in content_type and any(tuple(e.get("loc", ())) == ("body",)
                                                                for e in exc.errors()):
            # A JSON endpoint sent a form or text: say so rather than list every field as missing.
            return JSONResponse({"detail": [{"field": "content-type", "in": "header", "type": "unsupported_media_type",
                                             "message": f"请以 application/json 发送，而不是 {content_type}"}],
                                 "code": "unsupported_media_type"}, status_code=415)
        broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if broken:  # FastAPI would name a character offset as the field
            return JSONResponse({"detail": [{"field": "body", "in": "body", "type": "json_invalid",
                                             "message": f"不是有效的 JSON：{e.get('ctx', {}).get('error', e['msg'])}"}
                                            for e in broken], "code": "invalid_input"}, status_code=422)
        return JSONResponse({"detail": field_errors(exc.errors()), "code": "invalid_input"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and isinstance(detail, str) and "parsing the body" in detail:
            # Undecodable bytes: answer like every other bad field, not with a bare string.
            return JSONResponse({"detail": [{"field": "body", "in": "body", "type": "body_not_utf8_json",
                                             "message": "请求体不是 UTF-8 编码的 JSON"}], "code": "bad_request"},
                                status_code=400)
        return JSONResponse({"detail": status_text(detail), "code": status_code(exc.status_code)},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_answer(exc)

    @app.exception_handler(IdempotencyConflict)
    async def _idempotency_conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return problem_answer(Invalid(IDEMPOTENCY_HEADER, str(exc), type="conflict", where="header"))

    for router in routers:
        app.include_router(router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(SessionMiddleware)  # inside the body limit: it may read a form for its CSRF field
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, service=service)
    return app

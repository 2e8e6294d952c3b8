"""Each service's OpenAPI declares the answers it really sends: field errors as {field, in, message, type}
(not FastAPI's {loc, msg, type}) on every operation, and photos with their image content types."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

import httpx
import jsonschema
import pytest
from fastapi import APIRouter, Query

from shared.errors import Invalid
from shared.http import create_app
from shared.inputs import _all_dependencies
from tests.support.openapi import api_routes, built_apps


def _resolved(spec: dict, schema: dict) -> dict:
    """A response schema with its $refs resolvable (the spec's components travel along)."""
    return {**schema, "components": spec["components"]}


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    return built_apps(tmp_path_factory.mktemp("apps"))


@pytest.fixture(scope="module")
def specs(apps):
    return {name: app.openapi() for name, app in apps.items()}


def test_every_operation_of_every_service_declares_the_field_error_shape_for_422(specs):
    checked = 0
    for name, spec in specs.items():
        declared = spec["components"]["schemas"]["FieldError"]
        assert set(declared["required"]) == {"field", "in", "message", "type"}, name
        assert "ValidationError" not in spec["components"]["schemas"], name
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/HTTPValidationError"}, (name, method, path)
                assert "4XX" in operation["responses"], (name, method, path)
                checked += 1
    print(f"{checked} operations declare the field-error shape")
    assert checked > 60


async def test_a_real_422_answer_validates_against_the_declared_schema():
    router = APIRouter()

    @router.get("/t")
    async def t(n: int = Query(..., ge=1)) -> dict:
        raise Invalid("n", "不对")

    app = create_app(service="t", title="t", routers=[router], readiness=None)  # type: ignore[arg-type]
    spec = app.openapi()
    declared = spec["paths"]["/t"]["get"]["responses"]["422"]["content"]["application/json"]["schema"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        for query in ("", "?n=0", "?n=2"):
            answer = await client.get("/t" + query)
            assert answer.status_code == 422
            jsonschema.validate(answer.json(), _resolved(spec, declared))


def test_photo_reads_declare_their_image_content_types(specs):
    content = specs["grid"]["paths"]["/api/v1/photos/{photo_id}"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"image/jpeg", "image/png", "image/webp"}


def _naive(annotation: object, seen: set) -> bool:
    """Whether a parameter or body type accepts a datetime without a zone somewhere inside."""
    if annotation is datetime:
        return True
    if any(_naive(a, seen) for a in get_args(annotation)):
        return True
    fields = getattr(annotation, "model_fields", None)
    if isinstance(fields, dict) and annotation not in seen:
        seen.add(annotation)
        return any(_naive(f.annotation, seen) for f in fields.values())
    return False


def test_no_operation_accepts_a_time_without_a_zone(apps):
    """A zoneless time is a 422 (pydantic's AwareDatetime), never guessed, unless the parameter documents the zone
    it reads it in (order search's dates: "China time unless an offset is given"). Every route is checked."""
    naive, routes = [], 0
    for name, app in apps.items():
        for route in api_routes(app.routes):
            routes += 1
            for dependant in (route.dependant, *_all_dependencies(route.dependant)):
                for param in (*dependant.query_params, *dependant.path_params, *dependant.body_params,
                              *dependant.header_params):
                    documented = "China time" in (param.field_info.description or "")
                    if _naive(param.field_info.annotation, set()) and not documented:
                        naive.append((name, route.path, param.name))
    assert routes > 60 and naive == []

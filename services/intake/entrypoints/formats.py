"""GeoReport answers as JSON or XML. The XML follows the spec's element names; JSON is its Spark mapping."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from fastapi.responses import Response

# A list under one of these keys repeats the singular element inside it (<attributes><attribute>...).
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item = ITEM_NAMES.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, body: Any) -> bytes:
    """`body` (a list or a dict) under `root`, with the XML declaration the spec requires."""
    element = ET.Element(root)
    _fill(element, body)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8",
                                                                       xml_declaration=False)


def render(fmt: str, root: str, body: Any, status_code: int = 200) -> Response:
    """The answer in the format the path asked for."""
    if fmt == "xml":
        return Response(to_xml(root, body), status_code=status_code, media_type=MEDIA_TYPES["xml"])
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status_code, media_type=MEDIA_TYPES["json"])

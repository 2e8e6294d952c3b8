"""An integration key scoped to a county or a town writes only inside it: the report is located at the door
exactly as the consumer will locate it (grid codes, else coordinates, else the address's place names), so
neither coordinates nor an address can carry it elsewhere."""

from __future__ import annotations

from services.intake.service.handlers.common import Reference
from services.intake.service.handlers.incidents import locate
from shared.apikeys import ApiKey
from shared.errors import Forbidden
from shared.events.v1 import IncidentReported
from shared.scope import key_scope


class OutOfScope(Forbidden):
    """The report lies outside the key's scope (or cannot be shown to lie inside it): a 403 naming the field
    that places it there, in the field-error shape."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([{"field": field, "in": "body", "message": message, "type": "out_of_scope"}])
        self.field, self.message = field, message


def check_key_scope(report: IncidentReported, *, key: ApiKey, reference: Reference) -> None:
    """OutOfScope unless a scoped key's report is placed inside the scope; TransientError (retry later) while
    intake has no copy of grid's registry to place coordinates with."""
    if key.scope_unit is None:
        return
    loc = report.location
    if loc.grid_code and not loc.grid_code.startswith(key.scope_unit):
        raise OutOfScope("grid_code", f"此密钥只能上报 {key.scope_unit} 辖区内的事件，网格 {loc.grid_code} 不在其内")
    located, _, _ = locate(report, locator=reference.locator, places=reference.places)
    if located.town_code is None and located.county_code is None:
        raise OutOfScope("location", f"此密钥只能上报 {key.scope_unit} 辖区内的事件：请给出坐标，或能在辖区内定位的地址")
    if not key_scope(key.scope_unit).covers(town_code=located.town_code, county_code=located.county_code):
        field = "coordinates" if loc.coordinates is not None else "address"
        raise OutOfScope(field, f"此密钥只能上报 {key.scope_unit} 辖区内的事件：该位置在 "
                                f"{located.town_code or located.county_code}")

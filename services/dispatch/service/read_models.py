"""What an order shows to the outside: the fields the table row and the API's answer share.

It lives here, outside `adapters/`, so the routes can build their answer models on it without importing the
ORM (the entrypoints-not-adapters contract); the table model in `adapters/orm.py` inherits the same fields, so
a column and its public field are declared once (the FastAPI full-stack template's `ItemBase` shape). A plain
SQLModel without a table: `adapters/orm.py` puts the columns into dispatch's own metadata."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class WorkOrderBase(SQLModel):
    number: str = Field(max_length=32, unique=True, description="工单编号")
    incident_id: str = Field(max_length=64, unique=True)
    state: str = Field(max_length=32, index=True)
    version: int = Field(default=1)
    unit_code: str = Field(max_length=64, index=True, description="the unit holding the order")
    tier: str = Field(max_length=16)
    county_code: str | None = Field(default=None, max_length=16, index=True)
    town_code: str | None = Field(default=None, max_length=16, index=True)
    village_code: str | None = Field(default=None, max_length=16)
    grid_code: str | None = Field(default=None, max_length=20)
    category_code: str = Field(max_length=32)
    appeal_type: str = Field(max_length=16)
    urgency: str = Field(max_length=16)
    channel: str = Field(max_length=16)
    source_ref: str = Field(max_length=64)
    title: str | None = Field(default=None, max_length=200)
    description: str
    address: str | None = Field(default=None, max_length=500)
    lon: float | None = None
    lat: float | None = None
    located_by: str = Field(max_length=16)
    confidential: bool = False
    supervised: bool = False
    merged_into: str | None = Field(default=None, max_length=64)
    signed_on_time: bool | None = None
    closed_on_time: bool | None = None
    return_count: int = 0
    reopen_count: int = 0
    escalation_count: int = 0
    urge_count: int = 0
    duplicate_count: int = Field(default=0, description="hotline appeals linked to this order (重复件)")
    extension_pending: bool = False
    satisfaction: str | None = Field(default=None, max_length=32)
    resolved: bool | None = None

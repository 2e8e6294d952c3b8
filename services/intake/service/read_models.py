"""What an incident shows to the outside: the fields the table row and the API's answer share.

It lives here, outside `adapters/`, so the routes can build their answer models on it without importing the
ORM (the entrypoints-not-adapters contract); the table model in `adapters/orm.py` inherits the same fields, so
a column and its public field are declared once (the FastAPI full-stack template's `ItemBase` shape). A plain
SQLModel without a table: `adapters/orm.py` puts the columns into intake's own metadata."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class IncidentBase(SQLModel):
    channel: str = Field(max_length=16, index=True)
    source_ref: str = Field(max_length=64)
    appeal_type: str = Field(max_length=16)
    category_code: str = Field(max_length=32)
    urgency: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True,
                        description="accepted | held (review queue) | rejected (not dispatched, see reason)")
    located_by: str = Field(max_length=16)
    grid_code: str | None = Field(default=None, max_length=20)
    village_code: str | None = Field(default=None, max_length=16)
    town_code: str | None = Field(default=None, max_length=16, index=True)
    county_code: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, max_length=500,
                               description="why it was held or rejected, or what intake flagged")
    reviewed_by: str | None = Field(default=None, max_length=64)

"""Grid settings: MCC_* shared variables plus MCC_GRID_*."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


class GridSettings(ServiceSettings):
    service_name: str = "grid"
    database_url: str = Field("sqlite:///var/grid.db",
                              validation_alias=AliasChoices("MCC_GRID_DATABASE_URL", "database_url"))
    port: int = Field(8003, validation_alias=AliasChoices("MCC_GRID_PORT", "port"))

"""Intake settings: MCC_* shared variables plus MCC_INTAKE_*."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    database_url: str = Field("sqlite:///var/intake.db",
                              validation_alias=AliasChoices("MCC_INTAKE_DATABASE_URL", "database_url"))
    port: int = Field(8001, validation_alias=AliasChoices("MCC_INTAKE_PORT", "port"))
    grid_url: str = Field("http://127.0.0.1:8003", validation_alias=AliasChoices("MCC_INTAKE_GRID_URL", "grid_url"),
                          description="the grid service, for coordinates → grid → village → town → county")

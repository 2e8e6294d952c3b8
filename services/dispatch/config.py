"""Dispatch settings: MCC_* shared variables plus MCC_DISPATCH_*."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    service_name: str = "dispatch"
    database_url: str = Field("sqlite:///var/dispatch.db",
                              validation_alias=AliasChoices("MCC_DISPATCH_DATABASE_URL", "database_url"))
    port: int = Field(8004, validation_alias=AliasChoices("MCC_DISPATCH_PORT", "port"))
    city_code: str = Field("320600", validation_alias=AliasChoices("MCC_CITY_CODE", "city_code"),
                           description="the city unit at the top of the tree")

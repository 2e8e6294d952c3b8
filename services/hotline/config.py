"""Hotline settings: MCC_* shared variables plus MCC_HOTLINE_*."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


class HotlineSettings(ServiceSettings):
    service_name: str = "hotline"
    database_url: str = Field("sqlite:///var/hotline.db",
                              validation_alias=AliasChoices("MCC_HOTLINE_DATABASE_URL", "database_url"))
    port: int = Field(8002, validation_alias=AliasChoices("MCC_HOTLINE_PORT", "port"))

"""Dispatch settings: MCC_* shared variables plus MCC_DISPATCH_*."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from shared.settings import ServiceSettings


def _alias(name: str) -> AliasChoices:
    return AliasChoices(f"MCC_DISPATCH_{name.upper()}", name)


class DispatchSettings(ServiceSettings):
    service_name: str = "dispatch"
    database_url: str = Field("sqlite:///var/dispatch.db", validation_alias=_alias("database_url"))
    port: int = Field(8004, validation_alias=_alias("port"))
    city_code: str = Field("320600", validation_alias=AliasChoices("MCC_CITY_CODE", "city_code"),
                           description="the city unit at the top of the tree")
    topology_file: str | None = Field(None, validation_alias=_alias("topology_file"),
                                      description="YAML/JSON unit list loaded into an empty database "
                                                  "(default: the demo city)")
    sla_file: str | None = Field(None, validation_alias=_alias("sla_file"))
    holidays_file: str | None = Field(None, validation_alias=_alias("holidays_file"),
                                      description="the official holiday schedule (default: "
                                                  "shared/reference/holidays.yaml)")
    duties_file: str | None = Field(None, validation_alias=_alias("duties_file"))
    escalation_file: str | None = Field(None, validation_alias=_alias("escalation_file"))
    categories_file: str | None = Field(None, validation_alias=_alias("categories_file"))
    time_scale: float = Field(1.0, gt=0, validation_alias=_alias("time_scale"),
                              description="policy seconds per real second (3600: an SLA hour lasts a second)")
    timer_poll_s: float = Field(0.5, gt=0, validation_alias=_alias("timer_poll_s"))
    timer_batch: int = Field(200, ge=1, le=5000, validation_alias=_alias("timer_batch"))
    topology_poll_s: float = Field(5.0, gt=0, validation_alias=_alias("topology_poll_s"))
    access_log_days: int = Field(365, ge=1, validation_alias=_alias("access_log_days"))
    grid_url: str = Field("http://127.0.0.1:8003", validation_alias=_alias("grid_url"),
                          description="grid's address: the city view draws its map from grid's registry")
    map_poll_s: float = Field(60.0, gt=0, validation_alias=_alias("map_poll_s"),
                              description="how often the city view checks grid's registry version")
    password_min_length: int = Field(10, ge=8, le=128, validation_alias=_alias("password_min_length"),
                                     description="shortest password an account may have")
    signin_max_failures: int = Field(5, ge=1, validation_alias=_alias("signin_max_failures"),
                                     description="failed sign-ins for one login before it is locked")
    signin_address_max_failures: int = Field(20, ge=1, validation_alias=_alias("signin_address_max_failures"),
                                             description="failed sign-ins from one address before it is locked")
    signin_lock_s: int = Field(900, ge=1, validation_alias=_alias("signin_lock_s"),
                               description="how long a lock after too many failed sign-ins lasts")
    counties: str = Field("", validation_alias=_alias("counties"),
                          description="comma-separated county codes (and _none for incidents without one) this "
                                      "process routes incidents of; empty: every county (docs/operations.md)")
    password_profile: Literal["RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST"] = Field(
        "RFC_9106_LOW_MEMORY", validation_alias=_alias("password_profile"),
        description="Argon2id parameters for new password hashes (argon2-cffi's profiles); CHEAPEST is for tests "
                    "and demos only and is refused outside MCC_DEMO")

    @property
    def pinned_counties(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.counties.split(",") if c.strip())

    @model_validator(mode="after")
    def _cheap_hashes_only_in_demos(self) -> DispatchSettings:
        if self.password_profile == "CHEAPEST" and not self.demo:
            raise ValueError("MCC_DISPATCH_PASSWORD_PROFILE=CHEAPEST protects no password: only with MCC_DEMO=true")
        return self

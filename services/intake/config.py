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
                          description="the grid service, whose registry intake copies to locate coordinates")
    registry_poll_s: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("MCC_INTAKE_REGISTRY_POLL_S", "registry_poll_s"),
        description="how often intake asks grid for its registry version (a new version: a new copy is fetched)")
    dispatch_url: str = Field(
        "http://127.0.0.1:8004", validation_alias=AliasChoices("MCC_INTAKE_DISPATCH_URL", "dispatch_url"),
        description="the dispatch service, whose organisation tree names Open311's agency_responsible and the "
                    "places addresses are matched to")
    org_poll_s: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("MCC_INTAKE_ORG_POLL_S", "org_poll_s"),
        description="how often intake asks dispatch for its organisation tree's version")
    consumer_batch: int = Field(200, ge=1, le=1000,
                                validation_alias=AliasChoices("MCC_INTAKE_CONSUMER_BATCH", "consumer_batch"),
                                description="messages a consumer fetches and handles in one transaction")
    consumer_loops: int = Field(2, ge=1, le=16,
                                validation_alias=AliasChoices("MCC_INTAKE_CONSUMER_LOOPS", "consumer_loops"),
                                description="fetch loops of the reported-incident consumer")
    detection_min_confidence: float = Field(
        0.8, ge=0, le=1,
        validation_alias=AliasChoices("MCC_INTAKE_DETECTION_MIN_CONFIDENCE", "detection_min_confidence"),
        description="machine detections below this confidence wait in the review queue instead of dispatch")
    detection_thresholds: str = Field(
        "", validation_alias=AliasChoices("MCC_INTAKE_DETECTION_THRESHOLDS", "detection_thresholds"),
        description="per-detector thresholds, e.g. `satellite-rs=0.9,noise-sensor=0.6`")
    outside_city_m: float = Field(
        5000, ge=0, validation_alias=AliasChoices("MCC_INTAKE_OUTSIDE_CITY_M", "outside_city_m"),
        description="a point farther than this (metres) from every grid waits in the review queue instead of "
                    "going to the nearest town")
    rate_limit_per_minute: int = Field(
        600, gt=0, validation_alias=AliasChoices("MCC_INTAKE_RATE_LIMIT_PER_MINUTE", "rate_limit_per_minute"),
        description="requests a minute one integration key (detections, Open311) may make; 429 past it")
    open311_contact: str = Field(
        "12345 政务服务便民热线", validation_alias=AliasChoices("MCC_INTAKE_OPEN311_CONTACT", "open311_contact"),
        description="Open311 discovery: who to contact, and how to get an API key")

    def detector_thresholds(self) -> dict[str, float]:
        """`name=0.9,other=0.7` as a mapping; a malformed entry is a configuration error at start-up."""
        out: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in self.detection_thresholds.split(","))):
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"MCC_INTAKE_DETECTION_THRESHOLDS: expected name=value, got {part!r}")
            out[name.strip()] = float(value)
        return out

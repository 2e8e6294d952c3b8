"""Grid settings: MCC_* shared variables plus MCC_GRID_*."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from shared.settings import ServiceSettings


class GridSettings(ServiceSettings):
    service_name: str = "grid"
    database_url: str = Field("sqlite:///var/grid.db",
                              validation_alias=AliasChoices("MCC_GRID_DATABASE_URL", "database_url"))
    port: int = Field(8003, validation_alias=AliasChoices("MCC_GRID_PORT", "port"))
    demo_city: bool = Field(True, validation_alias=AliasChoices("MCC_GRID_DEMO_CITY", "demo_city"),
                            description="load the demo city's 9,303 grids into an empty registry at start")
    photo_dir: str = Field("var/grid-photos", validation_alias=AliasChoices("MCC_GRID_PHOTO_DIR", "photo_dir"))
    photo_max_bytes: int = Field(5_000_000, gt=0,
                                 validation_alias=AliasChoices("MCC_GRID_PHOTO_MAX_BYTES", "photo_max_bytes"))
    max_request_bytes: int = Field(
        30_000_000, gt=0, validation_alias=AliasChoices("MCC_GRID_MAX_REQUEST_BYTES", "max_request_bytes"),
        description="largest request body (the whole-city GeoJSON export is ~5 MB)")
    rate_limit_per_minute: int = Field(
        600, gt=0, validation_alias=AliasChoices("MCC_GRID_RATE_LIMIT_PER_MINUTE", "rate_limit_per_minute"))
    batch_max_items: int = Field(200, gt=0,
                                 validation_alias=AliasChoices("MCC_GRID_BATCH_MAX_ITEMS", "batch_max_items"))
    categories_file: str | None = Field(
        None, validation_alias=AliasChoices("MCC_GRID_CATEGORIES_FILE", "categories_file"))
    index_poll_s: float = Field(5.0, gt=0, validation_alias=AliasChoices("MCC_GRID_INDEX_POLL_S", "index_poll_s"),
                                description="how often a process checks whether another one imported grids")
    key_cache_s: float = Field(10.0, ge=0, validation_alias=AliasChoices("MCC_GRID_KEY_CACHE_S", "key_cache_s"),
                               description="seconds a verified API key is trusted without a database lookup")
    webhook_poll_s: float = Field(1.0, gt=0,
                                  validation_alias=AliasChoices("MCC_GRID_WEBHOOK_POLL_S", "webhook_poll_s"),
                                  description="how often event changes are pushed to registered webhooks")
    webhook_allow_networks: str = Field(
        "", validation_alias=AliasChoices("MCC_GRID_WEBHOOK_ALLOW_NETWORKS", "webhook_allow_networks"),
        description="comma-separated addresses or CIDRs webhooks may reach although loopback, link-local or "
                    "private (e.g. an app server on the city's own network); empty: public addresses only")

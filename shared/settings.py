"""Configuration through environment variables only: one settings class per service over this shared base.

Variables every service shares are `MCC_*`; a service's own are `MCC_<SERVICE>_*` and are declared on its
subclass with an explicit alias, e.g. `MCC_DISPATCH_DATABASE_URL`.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs: where NATS and Redis are, logging, tokens, consumer behaviour."""

    model_config = SettingsConfigDict(env_prefix="MCC_", extra="ignore", populate_by_name=True)

    service_name: str = Field("mcc", exclude=True)
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL")
    log_level: str = Field("INFO", description="Python log level")
    log_json: bool = Field(True, description="structured JSON logs (false: plain text for a terminal)")
    host: str = Field("127.0.0.1", description="HTTP bind address")
    token_secret: str = Field(
        "dev-only-secret-change-me-in-production",
        description="HMAC secret that signs bearer tokens; a long random value in production",
    )
    city_code: str = Field("320600", pattern=r"^\d{6}$",
                           description="the city's GB/T 2260 code; a token's unit must be of this city")
    auth_failures_per_minute: int = Field(
        30, ge=1, description="failed authentications (bad token or API key) a client address may make in a "
                              "minute; past it every attempt from that address answers 429 until the minute ends")
    demo: bool = Field(False, description="demo mode (`mcc up`): the default token secret is allowed")
    attachment_dir: str = Field("var/attachments", description="the attachments of work orders (grid photos, "
                                "closing evidence), content-addressed; one directory every service can reach")
    attachment_max_bytes: int = Field(10_000_000, gt=0, description="largest attachment accepted, in bytes")
    token_audience: str = Field("mcc", description="audience (`aud`) every token must name; one per deployment")
    token_max_lifetime_s: int = Field(90 * 86400, gt=0, description="longest lifetime a token may claim (exp - iat)")
    session_ttl_s: int = Field(900, ge=60, description="lifetime of a browser session token; renewed while in use")
    session_max_s: int = Field(12 * 3600, ge=60, description="a session ends this long after sign-in, in use or not")
    session_cookie_secure: bool | None = Field(
        None, description="mark session cookies Secure (unset: when the request came over https)")
    consumer_max_deliver: int = Field(
        5, ge=1, description="deliveries before a message whose handler keeps failing (a bug, not a dependency "
                             "being down) is dead-lettered")
    consumer_max_unfinished: int = Field(
        20, ge=1, description="deliveries without an outcome (the process died handling it) before dead letters")
    consumer_retry_cap_s: float = Field(
        10.0, gt=0, description="longest wait between retries of a message while a dependency is down")
    consumer_ack_wait_s: float = Field(30.0, gt=0, description="seconds before an unacked message is redelivered")
    number_block: int = Field(
        50, ge=1, description="running numbers a process reserves at a time on PostgreSQL (the rest of a block "
                              "is skipped when the process stops: numbers have gaps)")
    stream_replicas: int = Field(
        1, ge=1, le=5, description="copies of every JetStream stream: 1 on one server, 3 on a three-node cluster "
                                   "(a write is acknowledged once a majority has it)")
    outbox_poll_s: float = Field(1.0, gt=0, description="how often the outbox relay looks for unpublished events")

    # Each service redeclares these two with its own alias (MCC_<SERVICE>_DATABASE_URL / _PORT).
    database_url: str = "sqlite:///var/mcc.db"
    port: int = 8000

"""SQLModel helpers: a base class per service (its own MetaData, so services never share tables) and a
timezone-safe datetime column for SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared.apikeys import api_key_table
from shared.counters import counter_table
from shared.db import UTCDateTime
from shared.idempotency import idempotency_table
from shared.outbox import messaging_tables

__all__ = ["UTCDateTime", "service_base"]


def service_base(service: str) -> tuple[type[SQLModel], MetaData]:
    """A SQLModel base whose tables land in the service's own MetaData, with the tables every service may use:
    outbox, inbox, counters, idempotency keys and API keys."""
    reg = registry()
    base = type(f"{service.title()}Table", (SQLModel,), {"__module__": __name__}, registry=reg)
    messaging_tables(reg.metadata)
    counter_table(reg.metadata)
    idempotency_table(reg.metadata)
    api_key_table(reg.metadata)
    return base, reg.metadata

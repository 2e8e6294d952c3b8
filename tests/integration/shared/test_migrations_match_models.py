"""Each service's migrations build exactly the tables its models declare, the shared ones (outbox, processed_event
(the inbox), counters, idempotency keys, API keys: shared/models.py) included, so a model changed without its
migration, or a shared table that drifted in one service's copy, fails here instead of in the field."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from shared.migrations import upgrade


@pytest.mark.parametrize("service", ["hotline", "intake", "dispatch", "grid"])
async def test_a_service_migrated_to_head_has_exactly_the_tables_and_columns_of_its_models(service, tmp_path: Path):
    metadata = importlib.import_module(f"services.{service}.adapters.orm").metadata
    await upgrade(service, f"sqlite:///{tmp_path}/{service}.db")
    engine = create_engine(f"sqlite:///{tmp_path}/{service}.db")
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            drift = [d for d in compare_metadata(context, metadata)
                     if not (d[0] == "remove_table" and d[1].name == f"alembic_version_{service}")]
    finally:
        engine.dispose()
    assert drift == []
    assert {"outbox", "processed_event", "counter", "idempotency_key", "api_key"} <= set(metadata.tables)

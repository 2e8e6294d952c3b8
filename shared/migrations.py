"""Alembic, run programmatically. Each service keeps its migrations in services/<name>/migrations and
its tables in its own MetaData, so services can share one PostgreSQL database or each have their own."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from shared.db import create_engine

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str, database_url: str, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url)
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(service: str, database_url: str, *, schema: str | None = None, revision: str = "head") -> None:
    """Bring a service's schema to `revision` (run at start-up and by `mcc migrate`)."""
    cfg = alembic_config(service, database_url, schema)
    engine = create_engine(database_url, schema=schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several processes of a service start together: one migrates, the others wait, then find
                # nothing left to do. The lock ends with the transaction.
                key = int.from_bytes(hashlib.sha256(f"mcc-migrate-{service}".encode()).digest()[:8], "big", signed=True)
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            cfg.attributes["connection"] = conn
            await conn.run_sync(lambda sync_conn: _run(cfg, sync_conn, revision))
    finally:
        await engine.dispose()


def _run(cfg: Config, connection: Connection, revision: str) -> None:
    cfg.attributes["sync_connection"] = connection
    command.upgrade(cfg, revision)


def run_env(context: EnvironmentContext, target_metadata: MetaData, service: str) -> None:
    """The body of every service's migrations/env.py."""
    config = context.config
    connection = config.attributes.get("sync_connection")
    if connection is None:  # `alembic` CLI: open our own (async) connection
        asyncio.run(upgrade(service, config.get_main_option("sqlalchemy.url")))
        return
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=f"alembic_version_{service}",
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def make_revision(service: str, message: str) -> None:
    """Autogenerate the next migration of a service from its models (`mcc makemigration`)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/autogen.db"
        await upgrade(service, url)
        cfg = alembic_config(service, url)
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                def generate(sync_conn: Connection) -> None:
                    cfg.attributes["sync_connection"] = sync_conn
                    command.revision(cfg, message=message, autogenerate=True)

                await conn.run_sync(generate)
        finally:
            await engine.dispose()

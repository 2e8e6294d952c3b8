"""Database plumbing: async engines for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import ColumnElement, DateTime, String, TypeDecorator, any_, bindparam, event, false, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared import metrics
from shared.scope import Scope


def async_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, sqlite:///) and pick the async driver."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    elif u.drivername == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def upsert_insert(db: AsyncSession | AsyncConnection) -> Any:
    """The dialect's `insert` (PostgreSQL's or SQLite's), the one with `on_conflict_do_update/do_nothing`."""
    dialect = db.dialect if isinstance(db, AsyncConnection) else db.get_bind().dialect
    return postgresql.insert if dialect.name == "postgresql" else sqlite.insert


def create_engine(url: str, *, schema: str | None = None, pool_size: int = 10) -> AsyncEngine:
    """An async engine. PostgreSQL: a pool of `pool_size` (+ as many overflow) connections.

    SQLite (the embedded default) is tuned for one process writing its own file:
    - WAL: readers never block the writer or each other, and a commit appends to the log instead of
      rewriting pages.
    - one connection per process, shared in turn by every session: SQLite has a single writer anyway, and
      connections of one process fighting over its lock wait in SQLite's busy handler, which sleeps in steps
      of up to 100 ms; waiting in the pool's queue hands the connection over the moment it is free.
    - `BEGIN IMMEDIATE` and a 30 s busy timeout for the rare second process on the same file (a CLI command,
      a migration): it waits for the lock at the start of its transaction instead of failing on upgrade.
    - `synchronous=NORMAL`: in WAL mode a commit is written to the log but fsynced only at checkpoints. The
      database is never corrupted, and a killed process (kill -9, a crash) loses nothing it committed, since
      the log is in the operating system's cache; only a power cut or kernel crash may roll back the last
      commits since the checkpoint. That is the embedded default's trade for speed; a deployment that must
      survive power loss runs PostgreSQL (or sets MCC_SQLITE_SYNCHRONOUS=FULL).

    `schema` puts every table in a PostgreSQL schema (tests use one schema per test for isolation).
    """
    url = async_url(url)
    engine = _create_engine(url, schema=schema, pool_size=pool_size)
    event.listen(engine.sync_engine, "commit", _count_commit)
    return engine


def _count_commit(_conn: object) -> None:
    metrics.DB_COMMITS.inc()


def _json_dumps(value: Any) -> str:
    # Keys that are not strings become strings, as the json module makes them. What orjson refuses (an integer
    # past 64 bits, a lone surrogate) the json module writes, as it did before orjson.
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _json_loads(text: str | bytes) -> Any:
    # Rows written by the json module may hold what orjson will not read (NaN, Infinity, an escaped lone
    # surrogate): read those as they were written, never fail a read over them.
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


# JSON columns (an order's lifecycle, an audit row's details) through orjson: a tenth of the json module's cost
# per value, and a timer pass writes two per transition and reads one per order.
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}


def _create_engine(url: str, *, schema: str | None, pool_size: int) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        synchronous = os.environ.get("MCC_SQLITE_SYNCHRONOUS", "NORMAL").upper()
        if synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"MCC_SQLITE_SYNCHRONOUS must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0,
                                     pool_timeout=300, **_JSON_CODEC)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            # Driver-level autocommit, and BEGIN IMMEDIATE below: a transaction takes the write lock at its
            # start, so two processes wait for each other (busy_timeout) instead of failing on lock upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute("PRAGMA cache_size=-32000")  # 32 MB of page cache instead of 2 MB
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {"server_settings": {"search_path": schema}} if schema else {}
    # SQLAlchemy keeps each connection's prepared statements in an LRU of 100 by default; a service runs more
    # distinct statements than that (a multi-row INSERT is a new statement for every row count), and a miss
    # costs a Parse/Describe round trip before the statement runs.
    connect_args["prepared_statement_cache_size"] = 500
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, connect_args=connect_args, **_JSON_CODEC
    )
    engine.dialect.do_ping = _ping_by_socket  # type: ignore[method-assign]
    return engine


def _ping_by_socket(dbapi_connection: Any) -> bool:
    """Pre-ping without a round trip: False (reconnect) when the connection is closed.

    The driver's own ping costs three round trips per checkout (BEGIN, `;`, ROLLBACK), a tenth of a
    consumer's CPU per transaction. A restarted or crashed server closes its sockets, and asyncpg hears
    that on the idle connection at once, so the socket's state is enough to skip a dead connection; a
    connection that dies silently (a network cut) fails its statement instead, which invalidates the pool
    and is a transient error (retried) like any other database outage.
    """
    inner = getattr(dbapi_connection, "_connection", None)
    return not (inner is None or inner.is_closed())


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always gives them back aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: mcc stores only timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def scope_where(scope: Scope, *, county: Any = None, town: Any = None, unit: Any = None) -> Any:
    """The SQL condition for the rows a `shared.scope.Scope` covers, given the columns holding a row's county,
    town and unit (those a table lacks are None): None for everything, false() for nothing."""
    if scope.everything:
        return None
    parts = [column.in_(sorted(values)) for column, values in ((county, scope.counties), (town, scope.towns),
                                                               (unit, scope.units)) if column is not None and values]
    if scope.unplaced and county is not None:
        parts.append(county.is_(None))
    return or_(*parts) if parts else false()


def one_of(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name` (a list), for a statement built once per dialect: one
    bound array on PostgreSQL (`= ANY($1::VARCHAR[])`: one prepared statement whatever the list's length,
    where an expanding IN renders a cast per value on every execution), an expanding IN on SQLite, which has
    no arrays."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]

"""Which failures are a dependency being away (wait) and which are bugs or bad input (give up eventually)."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from shared.retry import TransientError, backoff, is_transient


def _wrapped(orig: Exception, cls: type = OperationalError, statement: str = "SELECT 1") -> Exception:
    try:
        try:
            raise orig
        except Exception as exc:
            raise cls(statement, {}, exc) from exc
    except Exception as wrapped:
        return wrapped


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize("exc", [
    TransientError("grid registry unavailable"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
    httpx.ConnectError("All connection attempts failed"),
    httpx.ReadTimeout("timed out"),
    _wrapped(sqlite3.OperationalError("database is locked")),
    _wrapped(_PgError("57P03")),  # the database system is starting up
    _wrapped(_PgError("40001"), cls=ProgrammingError),  # serialization failure
    _wrapped(_PgError("08006")),  # connection failure
])
def test_a_dependency_being_away_is_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    ValueError("bad value"),
    KeyError("a bug"),
    _wrapped(sqlite3.OperationalError("no such table: work_order")),
    _wrapped(sqlite3.OperationalError("no such column: x"), statement="SELECT connection_timeout FROM t"),
    _wrapped(_PgError("23505"), cls=IntegrityError),  # unique violation
])
def test_a_bug_or_a_broken_statement_is_not_transient(exc):
    assert not is_transient(exc)


def test_a_transient_error_raised_from_inside_another_exception_is_still_transient():
    try:
        try:
            raise ConnectionResetError("peer reset")
        except ConnectionResetError as inner:
            raise RuntimeError("locate failed") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_backoff_doubles_and_is_capped():
    assert [backoff(n, base=0.5, cap=4) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]

"""Which failures are worth waiting out, and how long to wait between tries.

A dependency that is down (a refused connection, a timeout, a database that is locked or restarting, a
NATS or Redis that is away) is a reason to wait, never to drop: `is_transient` says whether an exception
(or anything in its cause chain) is of that kind. Everything else is either a message that can never
succeed (`PoisonMessage`: dead-lettered at once) or a bug (retried a bounded number of times, then
dead-lettered so that one bad message cannot hold up a consumer forever).
"""

from __future__ import annotations

import asyncio

# SQLSTATE classes and codes that mean "try again": connection exceptions (08), serialization failure
# and deadlock (40001, 40P01), insufficient resources (53: too many connections, out of memory), operator
# intervention (57P01-57P05: admin shutdown, crash shutdown, cannot connect now, idle session timeout).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P")
_TRANSIENT_SQLSTATES = {"40001", "40P01"}

# Words in a driver's message that mean the database was unavailable, not that the statement was wrong
# (SQLite's OperationalError covers both "database is locked" and "no such table").
_TRANSIENT_WORDS = ("database is locked", "database table is locked", "busy", "unable to open database",
                    "disk i/o error", "connection", "connect", "timeout", "timed out", "terminat",
                    "shutting down", "server closed", "too many clients", "the database system is")

# Exception classes, by module and name, so this module needs none of the drivers installed to decide.
_TRANSIENT_TYPES = {
    ("httpx", "TransportError"), ("httpx", "TimeoutException"), ("httpx", "NetworkError"),
    ("httpcore", "ConnectError"), ("httpcore", "TimeoutException"), ("httpcore", "NetworkError"),
    ("redis.exceptions", "ConnectionError"), ("redis.exceptions", "TimeoutError"),
    ("redis.exceptions", "BusyLoadingError"), ("redis.exceptions", "TryAgainError"),
    ("nats.errors", "ConnectionClosedError"), ("nats.errors", "TimeoutError"), ("nats.errors", "NoServersError"),
    ("nats.errors", "NoRespondersError"), ("nats.errors", "ConnectionDrainingError"),
    ("nats.errors", "ConnectionReconnectingError"), ("nats.errors", "StaleConnectionError"),
    ("nats.js.errors", "ServiceUnavailableError"),
    ("sqlalchemy.exc", "TimeoutError"), ("sqlalchemy.exc", "DisconnectionError"),
    ("asyncpg.exceptions", "PostgresConnectionError"), ("asyncpg.exceptions", "ConnectionDoesNotExistError"),
    ("asyncpg.exceptions", "CannotConnectNowError"), ("asyncpg.exceptions", "TooManyConnectionsError"),
    ("asyncpg.exceptions", "InterfaceError"),
}


class TransientError(Exception):
    """Worth retrying later (a dependency is down): retried for as long as it takes, never dead-lettered."""


def is_transient(exc: BaseException) -> bool:
    """True if `exc`, or an exception it was raised from, says a dependency is unavailable right now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _one_is_transient(current):
            return True
        # SQLAlchemy keeps the driver's exception in `orig`; the driver's own message carries no SQL text.
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def _one_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    for cls in type(exc).__mro__:
        if (cls.__module__, cls.__name__) in _TRANSIENT_TYPES:
            return True
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy: the connection died under the statement
        return True
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(state, str) and state:
        return state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    if type(exc).__name__ == "OperationalError" and not hasattr(exc, "orig"):
        # A driver's own error (SQLite has no SQLSTATE); SQLAlchemy's wrapper is skipped because its text
        # quotes the statement, whose column names must not decide this.
        text = str(exc).lower()
        return any(word in text for word in _TRANSIENT_WORDS)
    return False


def backoff(attempt: int, *, base: float = 0.5, cap: float = 10.0) -> float:
    """Seconds to wait before try `attempt + 1`: doubling from `base`, never more than `cap`."""
    return min(base * 2 ** max(attempt - 1, 0), cap)

"""Driver errors that mean "the run store cannot take this now", and how they are told to a client.

An outage is not only a closed connection: a database made read-only (a primary demoted to a replica),
out of disk, shutting down, or refusing knflow's credentials cannot take a transition either, and the
transition must wait and be tried again (503), not fail as a bug (500). What a client is told names the
condition only: SQLAlchemy's own messages carry the statement and its parameters, which are nobody's
business outside the control plane.
"""

from __future__ import annotations

import functools
import sqlite3
import sys

from sqlalchemy.exc import DBAPIError

#: SQLSTATE classes and codes of an outage (Postgres), with what a client is told
_OUTAGES = {
    "08": "the connection to the database failed",
    "53": "the database is out of resources (disk, memory or connections)",
    "57P": "the database is shutting down, restarting or not accepting connections",
    "25006": "the database is read-only (a replica, or read-only by configuration)",
    "28": "the database refused knflow's credentials",
    "42501": "the database refused knflow's privileges",
    "3D000": "the database does not exist",
    "55000": "the database is not accepting connections (or not in a state to do this)",
}


def _sqlstate(exc: BaseException) -> str | None:
    for error in (exc, getattr(exc, "orig", None), exc.__cause__):
        code = getattr(error, "sqlstate", None)
        if isinstance(code, str):
            return code
    return None


def _outage(code: str | None) -> str | None:
    if code is None:
        return None
    for prefix in (code, code[:3], code[:2]):
        if prefix in _OUTAGES:
            return _OUTAGES[prefix]
    return None


def _driver(exc: BaseException) -> BaseException:
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return orig if isinstance(orig, BaseException) else exc


def unavailable(exc: BaseException) -> bool:
    """Whether a driver error (SQLAlchemy's, or the driver's own on the raw path) is an outage."""
    if isinstance(_driver(exc), sqlite3.OperationalError | OSError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if _outage(_sqlstate(exc)) is not None:
        return True
    return isinstance(_driver(exc), _asyncpg_outages())


def _asyncpg_outages() -> tuple[type[BaseException], ...]:
    """asyncpg's errors of a lost or refused connection, and SQLAlchemy's adaptations of them.

    None while asyncpg is not imported (a SQLite store): then no error can be one of them, and importing
    the driver to find out would cost a SQLite control plane its start-up time.
    """
    if "asyncpg" not in sys.modules:
        return ()
    return _asyncpg_classes()


@functools.cache
def _asyncpg_classes() -> tuple[type[BaseException], ...]:
    from asyncpg import exceptions as driver
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi as adapted

    return (
        driver.InterfaceError,  # the connection is closed or in an unusable state
        driver.InternalClientError,
        driver.PostgresConnectionError,
        driver.TooManyConnectionsError,
        driver.FDWUnableToEstablishConnectionError,
        adapted.InterfaceError,
        adapted.InternalClientError,
    )


def moved(exc: BaseException) -> bool:
    """Whether ``exc`` is a serialization failure (SQLSTATE 40001): on the raw path, writes planned from a
    read outside the runs' lock that found a run changed since (``dialect_writes.PERSIST_PG``)."""
    return _sqlstate(exc) == "40001"


def reason(exc: BaseException) -> str:
    """What a client may be told about the outage ``exc``: the condition, never a statement or parameters."""
    known = _outage(_sqlstate(exc))
    if known is not None:
        return known
    error = _driver(exc)
    if isinstance(error, sqlite3.OperationalError):
        return f"SQLite: {str(error).splitlines()[0] if str(error) else 'operational error'}"
    if isinstance(error, OSError | ConnectionError):
        return f"the database cannot be reached ({type(error).__name__})"
    return f"the connection to the database failed ({type(error).__name__})"

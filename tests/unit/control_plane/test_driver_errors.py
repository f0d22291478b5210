"""Driver errors are told apart by class: which mean "the run store cannot take this now" (an outage)."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as sqlalchemy_asyncpg
from sqlalchemy.exc import DBAPIError

from knflow_control_plane.adapters.sqlalchemy import errors

#: SQLAlchemy's adaptations of asyncpg's errors (untyped there)
ADAPTED: Any = sqlalchemy_asyncpg.AsyncAdapt_asyncpg_dbapi


def _wrapped(orig: BaseException) -> DBAPIError:
    return DBAPIError("SELECT 1", None, orig)


def test_a_lost_or_refused_asyncpg_connection_is_an_outage_raw_or_through_sqlalchemy() -> None:
    lost = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    assert errors.unavailable(lost)
    assert errors.unavailable(asyncpg.exceptions.InterfaceError("cannot perform operation: connection is closed"))
    assert errors.unavailable(asyncpg.exceptions.InternalClientError("protocol state"))
    adapted = ADAPTED.InterfaceError("connection is closed", lost)
    assert errors.unavailable(_wrapped(adapted))
    assert errors.reason(lost) == "the connection to the database failed"  # its SQLSTATE, 08003


def test_a_bug_or_a_constraint_is_not_an_outage() -> None:
    assert not errors.unavailable(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not errors.unavailable(_wrapped(ADAPTED.ProgrammingError("syntax error", None)))
    assert not errors.unavailable(ValueError("a bug"))


def test_sqlite_operational_errors_are_outages() -> None:
    assert errors.unavailable(_wrapped(sqlite3.OperationalError("disk I/O error")))
    assert errors.reason(_wrapped(sqlite3.OperationalError("disk I/O error"))) == "SQLite: disk I/O error"

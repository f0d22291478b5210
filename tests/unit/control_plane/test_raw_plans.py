"""Statements with ``IN`` lists on the raw path: rendered once per list length, with the same SQL and
arguments as SQLAlchemy's own post-compile, on both dialects."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from knflow_control_plane.adapters.sqlalchemy.raw import Plans, compiled_once

_runs = sa.table("runs", sa.column("id", sa.String), sa.column("status", sa.String), sa.column("n", sa.Integer))
STATEMENT = sa.select(_runs.c.id).where(
    _runs.c.status == sa.bindparam("state"),
    _runs.c.status.in_(["a", "b"]),  # a list given in the statement: an expanding default ("status_1")
    _runs.c.id.in_(sa.bindparam("ids", expanding=True)),
    _runs.c.n.in_(sa.bindparam("ns", expanding=True)),
    _runs.c.n > sa.bindparam("floor", 0),
)

compiled_once({"STATEMENT": STATEMENT})  # built once, as a module's statements are


def _sqlalchemy(dialect: Dialect, params: dict[str, Any]) -> tuple[str, list[Any]]:
    compiled = STATEMENT.compile(dialect=dialect)
    defaults = {name: bind.effective_value for bind, name in compiled.bind_names.items() if not bind.required}
    expanded = compiled._process_parameters_for_postcompile({**defaults, **params})
    return expanded.statement, [expanded.parameters[name] for name in expanded.positiontup or ()]


@pytest.mark.parametrize(
    "dialect",
    [postgresql.asyncpg.dialect(), sqlite.dialect()],  # type: ignore[no-untyped-call]
    ids=["postgres", "sqlite"],
)
def test_each_length_renders_as_sqlalchemy_does_and_is_reused(dialect: Dialect) -> None:
    plans = Plans(dialect)
    calls: list[dict[str, Any]] = [
        {"state": "running", "ids": ["a", "b", "c"], "ns": [1]},
        {"state": "failed", "ids": ["d", "e", "f"], "ns": [2], "floor": 5},  # same lengths: reused
        {"state": "running", "ids": [], "ns": [3, 4]},
        {"state": "running", "ids": ["g"], "ns": []},
    ]
    for params in calls:
        _plan, sql, args = plans.bind(STATEMENT, params)
        assert (sql, args) == _sqlalchemy(dialect, params)
    [plan] = plans._plans.values()
    assert sorted(plan.expansions) == [(2, 0, 2), (2, 1, 0), (2, 3, 1)]


@pytest.mark.parametrize(
    "dialect",
    [postgresql.asyncpg.dialect(), sqlite.dialect()],  # type: ignore[no-untyped-call]
    ids=["postgres", "sqlite"],
)
def test_the_polls_reads_are_compiled_once(dialect: Dialect) -> None:
    """The poll reads queued runs, throttled steps and child runs every interval: each statement is
    compiled at its first use only (an unknown one is compiled on every use, ~0.5 ms)."""
    from knflow_control_plane.adapters.sqlalchemy import children, concurrency, event_wait_keys, throttles

    plans = Plans(dialect)
    polled = [concurrency.WAITING_KEYS, throttles.THROTTLED_ACTIONS, children._ORPHANS, children._ENDED_CHILDREN]
    for statement in [*polled, event_wait_keys._SHAPE[dialect.name]]:  # its dialect's own
        first = plans._plan(statement, {})
        assert plans._plan(statement, {}) is first
    unknown = sa.select(_runs.c.id)
    assert plans._plan(unknown, {}) is not plans._plan(unknown, {})  # the default for ad hoc statements


_timed = sa.table("t", sa.column("id", sa.String), sa.column("at", sa.Float), sa.column("ok", sa.Boolean))
UPDATE = _timed.update().where(_timed.c.id == sa.bindparam("key")).values(at=sa.bindparam("at"), ok=sa.bindparam("ok"))
WITH_DEFAULT = sa.select(_timed.c.id).where(
    _timed.c.at > sa.bindparam("after", 0.0), _timed.c.id == sa.bindparam("key")
)
compiled_once({"UPDATE": UPDATE, "WITH_DEFAULT": WITH_DEFAULT})


def test_sqlite_binds_floats_and_bools_as_given_and_a_missing_parameter_is_named() -> None:
    plans = Plans(sqlite.dialect())
    plan, _, args = plans.bind(UPDATE, {"key": "k", "at": 1.5, "ok": True})
    assert args == [1.5, True, "k"] and not plan.processed  # sqlite3 takes both as they are
    with pytest.raises(KeyError, match="at"):
        plans.bind(UPDATE, {"key": "k", "ok": True})
    _, _, args = plans.bind(WITH_DEFAULT, {"key": "k"})  # a parameter with a default may be left out
    assert args == [0.0, "k"]


def test_asyncpg_binds_bools_and_plain_arrays_as_given() -> None:
    ids = sa.select(_timed.c.id).where(_timed.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))))
    plans = Plans(postgresql.asyncpg.dialect())  # type: ignore[no-untyped-call]
    plan, _, args = plans.bind(UPDATE, {"key": "k", "at": 1.5, "ok": True})
    assert args == [1.5, True, "k"] and plan.getter is not None
    assert all(plan.positions[i] != "ok" for i, _ in plan.processed)  # the bool's check: gone
    plan, _, args = plans.bind(ids, {"ids": ["a", "b"]})
    assert args == [["a", "b"]] and not plan.processed  # asyncpg takes the list as it is

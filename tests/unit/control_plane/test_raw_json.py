"""JSON columns on the raw path (``sqlalchemy.json_columns``): the same text and values as SQLAlchemy's own
processors (bound as text on both drivers, read back here on SQLite), which stay in charge of whatever
is unusual."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from knflow_control_plane.adapters.sqlalchemy.json_columns import dumps, loads
from knflow_control_plane.adapters.sqlalchemy.raw import Plans, typed_rows
from knflow_control_plane.adapters.sqlalchemy.tables import Json

_things = sa.table("things", sa.column("id", sa.String), sa.column("doc", Json), sa.column("at", sa.Float))
WRITE = _things.update().where(_things.c.id == sa.bindparam("b_id")).values(doc=sa.bindparam("doc", type_=Json))
READ = sa.select(_things.c.doc).where(_things.c.id == sa.bindparam("b_id"))

VALUES: list[Any] = [
    None,
    {},
    [],
    {"a": [1, 2.5, None, True, False], "b": {"c": "d"}},
    {"unicode": "é ☃ \U0001f600", "escapes": 'quote " backslash \\ newline \n tab \t nul \x00'},
    {"big": 10**30, "neg": -(2**63), "tiny": 5e-324, "float": 0.1},
    [{"nested": [[[]]]}],
    "a bare string",
    42,
    3.5,
    True,
]


@pytest.mark.parametrize(
    "dialect",
    [sqlite.dialect(), postgresql.asyncpg.dialect()],  # type: ignore[no-untyped-call]
    ids=["sqlite", "postgres"],
)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_is_bound_as_sqlalchemy_binds_it(dialect: Dialect, value: Any) -> None:
    plans = Plans(dialect)
    plan, _, args = plans.bind(WRITE, {"b_id": "x", "doc": value})
    assert plan.processors["doc"].__qualname__ == "json_bind.<locals>.process"  # ours, not SQLAlchemy's
    theirs: Any = WRITE.compile(dialect=dialect)._bind_processors["doc"]
    assert args == [theirs(value), "x"]
    assert json.loads(args[0]) == value


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_stored_text_is_read_back_as_sqlalchemy_reads_it(value: Any) -> None:
    dialect = sqlite.dialect()
    plan, _, _ = Plans(dialect).bind(READ, {"b_id": "x"})
    assert plan.results[0] is not None and plan.results[0].__qualname__ == "json_result.<locals>.process"
    text = json.dumps(value)
    theirs = sa.JSON().result_processor(dialect, None)
    assert theirs is not None
    assert typed_rows(plan, [(text,)])[0].doc == theirs(text) == value
    assert typed_rows(plan, [(None,)])[0].doc is None


def test_nan_and_infinities_round_trip_as_json_module_writes_them() -> None:
    text = dumps({"nan": math.nan, "inf": math.inf, "-inf": -math.inf})
    assert text == json.dumps({"nan": math.nan, "inf": math.inf, "-inf": -math.inf})
    back = loads(text)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["-inf"] == -math.inf


@pytest.mark.parametrize("text", [' {"a": 1}', '{"a": 1} ', "\n[1]\n"], ids=repr)
def test_whitespace_around_a_document_is_accepted(text: str) -> None:
    assert loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "nul", "[1,]"], ids=repr)
def test_malformed_text_fails_as_json_loads_does(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert (ours.value.msg, ours.value.pos) == (theirs.value.msg, theirs.value.pos)


def test_sqlalchemy_null_sentinels_keep_their_meaning() -> None:
    dialect = sqlite.dialect()
    plans = Plans(dialect)
    _, _, as_sql_null = plans.bind(WRITE, {"b_id": "x", "doc": sa.null()})
    _, _, as_json_null = plans.bind(WRITE, {"b_id": "x", "doc": sa.JSON.NULL})
    assert as_sql_null[0] is None  # SQL NULL
    assert as_json_null[0] == "null"  # the JSON value null


def test_a_missing_parameter_is_named() -> None:
    with pytest.raises(KeyError, match="doc"):
        Plans(sqlite.dialect()).bind(WRITE, {"b_id": "x"})

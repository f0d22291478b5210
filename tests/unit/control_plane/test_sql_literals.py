"""Values written as Postgres literals for held statements (``sqlalchemy.raw_asyncpg.literal``)."""

from __future__ import annotations

import pytest

from knflow_control_plane.adapters.sqlalchemy.raw_asyncpg import NoLiteral, literal, prepared_name


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (None, "NULL"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-7, "-7"),
        (0.1, "0.1"),
        (1e300, "1e+300"),
        (float("inf"), "'Infinity'"),
        (float("-inf"), "'-Infinity'"),
        (float("nan"), "'NaN'"),
        ("plain", "'plain'"),
        ("O'Brien''s", "'O''Brien''''s'"),
        ("back\\slash", "'back\\slash'"),  # literal as is: standard_conforming_strings is on
        ('{"json": "text"}', '\'{"json": "text"}\''),
        (["a", "b'c"], "ARRAY['a', 'b''c']"),
        ([], "'{}'"),
        ((1, None), "ARRAY[1, NULL]"),
    ],
)
def test_values_are_written_as_literals(value: object, written: str) -> None:
    assert literal(value) == written


@pytest.mark.parametrize("value", ["nul\x00byte", b"bytes", {"a": 1}, [[1]], object()])
def test_values_without_a_literal_here_are_refused(value: object) -> None:
    with pytest.raises(NoLiteral):
        literal(value)


def test_a_statement_has_one_name_and_different_statements_different_ones() -> None:
    assert prepared_name("SELECT 1") == prepared_name("SELECT 1")
    assert prepared_name("SELECT 1") != prepared_name("SELECT 2")
    assert prepared_name("SELECT 1").startswith("knflow_") and prepared_name("SELECT 1").isidentifier()

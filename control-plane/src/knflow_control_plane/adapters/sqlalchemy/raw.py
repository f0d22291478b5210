"""The hot path's statements run on the driver itself (sqlite3, asyncpg), compiled once by SQLAlchemy.

SQLAlchemy's per-execution machinery (connection events, parameter construction, cursor adaptation,
result objects) costs an order of magnitude more per statement than the driver itself
(``docs/performance.md``). The SQL is still defined once, as Core statements: each is compiled once per dialect
(and per set of inserted columns, and per length of an expanding ``IN`` list), with SQLAlchemy's own
bind and result processors (JSON on SQLite: the same text and values in fewer steps, ``sqlalchemy_json``),
and the driver runs the text. Binding a statement is one list comprehension over its parameters.

:class:`RawConnection` offers the part of ``sqlalchemy.engine.Connection`` that the transition
functions use (``execute`` -> ``rowcount``, ``first``, ``one``, ``all``, ``scalar_one``, ``scalars``),
so the same functions run on either. Statements built once at import (:func:`compiled_once`) are
compiled once; any other statement is compiled on each use (correct, only slower).
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import replacement_traverse

from .json_columns import json_bind, json_result

if TYPE_CHECKING:
    from .state_cache import RunStateCache

Params = Mapping[str, Any]


#: Renderings kept per expanding statement (one per distinct list length; the watcher's lists run to 500).
_EXPANSIONS = 1024


#: The default of a parameter that has none (the caller must give it).
_REQUIRED: Any = object()

#: The statements modules built once (:func:`compiled_once`): their plans are cached by every ``Plans``.
_BUILT_ONCE: set[int] = set()


def compiled_once(namespace: Mapping[str, Any]) -> None:
    """Cache the plans of every statement a module builds at import (its ``globals()``: statements, and
    dicts of statements or of tuples of them), on every dialect. Any other statement (built per call) is
    compiled on each use, ~0.5 ms: correct, only slower, and nothing kept for it."""
    for value in list(namespace.values()):
        for item in value.values() if isinstance(value, dict) else (value,):  # by dialect, say
            for statement in item if isinstance(item, tuple) else (item,):
                if isinstance(statement, sa.sql.expression.Executable):
                    _BUILT_ONCE.add(id(statement))


class _Plan(NamedTuple):
    """One statement compiled for one dialect."""

    compiled: SQLCompiler
    sql: str
    positions: tuple[str, ...]
    processors: dict[str, Any]
    defaults: dict[str, Any]
    expanding: tuple[str, ...]
    row: type[tuple[Any, ...]] | None
    results: tuple[Callable[[Any], Any] | None, ...]
    #: An expanding statement's SQL and arguments, by the lengths of its lists (see ``Plans._expand``).
    expansions: dict[tuple[int, ...], tuple[str, tuple[tuple[str, int, Callable[[Any], Any] | None], ...]]]
    #: Each position's parameter and its default (``_REQUIRED``: none).
    lookups: tuple[tuple[str, Any], ...]
    #: The positions whose argument goes through a bind processor, with it.
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]
    #: Whether any result column has a processor.
    converts: bool
    #: Every position's argument at once, when each must be given (no default): C, not a comprehension.
    getter: Callable[[Params], Any] | None


class Plans:
    """Compiled statements of one dialect, kept as long as their statement (module-level ones: forever)."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self._plans: dict[tuple[Any, tuple[str, ...] | None], _Plan] = {}

    def bind(self, statement: Any, params: Params) -> tuple[_Plan, str, list[Any]]:
        """The plan, SQL text and positional arguments of one execution."""
        plan = self._plans.get((statement, None)) or self._plan(statement, params)
        if plan.expanding:
            return self._expand(plan, params)
        return plan, plan.sql, self.args(plan, params)

    def args(self, plan: _Plan, params: Params) -> list[Any]:
        """The positional arguments of a statement without lists (``plan.expanding`` empty)."""
        if plan.getter is not None:
            args = list(plan.getter(params))
        else:
            get = params.get
            args = [params[name] if default is _REQUIRED else get(name, default) for name, default in plan.lookups]
        for position, process in plan.processed:
            args[position] = process(args[position])
        return args

    def _plan(self, statement: Any, params: Params) -> _Plan:
        is_insert = getattr(statement, "is_insert", False) and not getattr(statement, "_values", None)
        keys = tuple(params) if is_insert else None  # a bare insert() inserts the columns given
        plan = self._plans.get((statement, keys))
        if plan is None:
            plan = self._compile(statement, keys)
            if id(statement) in _BUILT_ONCE:
                self._plans[(statement, keys)] = plan
        return plan

    def _expand(self, plan: _Plan, params: Params) -> tuple[_Plan, str, list[Any]]:
        """An ``IN`` list's statement: SQLAlchemy renders one placeholder per item (its post-compile,
        slow for long lists). The SQL depends only on the lists' lengths, so it is rendered once per
        lengths, with where each argument comes from (a parameter, or an item of a list)."""
        lengths = tuple(len(params[name] if name in params else plan.defaults[name]) for name in plan.expanding)
        cached = plan.expansions.get(lengths)
        if cached is None:
            cached = self._render_expansion(plan, params)
            if len(plan.expansions) < _EXPANSIONS:
                plan.expansions[lengths] = cached
        sql, sources = cached
        args = []
        for name, index, processor in sources:
            value = params[name] if name in params else plan.defaults[name]
            if index >= 0:
                value = value[index]
            args.append(processor(value) if processor is not None else value)
        return plan, sql, args

    def _render_expansion(
        self, plan: _Plan, params: Params
    ) -> tuple[str, tuple[tuple[str, int, Callable[[Any], Any] | None], ...]]:
        expanded = plan.compiled._process_parameters_for_postcompile({**plan.defaults, **params})
        process = {**expanded.processors, **plan.processors}  # ours where we have one (JSON on SQLite)
        sources = []
        for name in expanded.positiontup or ():
            base, _, number = name.rpartition("_")
            if name not in plan.positions and base in plan.expanding and number.isdigit():
                sources.append((base, int(number) - 1, process.get(name)))  # SQLAlchemy names items <list>_1...
            else:
                sources.append((name, -1, process.get(name)))
        return expanded.statement, tuple(sources)

    def _compile(self, statement: ClauseElement, keys: tuple[str, ...] | None) -> _Plan:
        compiled = statement.compile(dialect=self.dialect, column_keys=list(keys) if keys else None)
        assert isinstance(compiled, SQLCompiler)
        defaults = {name: b.effective_value for b, name in compiled.bind_names.items() if not b.required}
        expanding = tuple(name for b, name in compiled.bind_names.items() if b.expanding)
        columns = compiled._result_columns
        row = collections.namedtuple("Row", [c.keyname for c in columns]) if columns else None
        results = tuple(self._result(c.type) for c in columns)
        processors: dict[str, Any] = dict(compiled._bind_processors)
        for bind, name in compiled.bind_names.items():
            if name in processors and isinstance(bind.type, sa.JSON):  # text on both drivers
                processors[name] = json_bind(processors[name])
            elif name in processors and _as_given(bind.type, self.dialect):
                del processors[name]
        positions = tuple(compiled.positiontup or ())
        required = all(name not in defaults for name in positions)
        return _Plan(
            compiled,
            compiled.string,
            positions,
            processors,
            defaults,
            expanding,
            row,
            results,
            {},
            tuple((name, defaults.get(name, _REQUIRED)) for name in positions),
            tuple((i, processors[name]) for i, name in enumerate(positions) if processors.get(name) is not None),
            any(results),
            _getter(positions) if required and positions and not expanding else None,
        )

    def _result(self, type_: Any) -> Callable[[Any], Any] | None:
        processor = _result_processor(type_, self.dialect)
        if processor is not None and self.dialect.name == "sqlite" and isinstance(type_, sa.JSON):
            return json_result(processor)
        return processor


def _as_given(type_: Any, dialect: Dialect) -> bool:
    """Whether the driver binds the values of ``type_`` as they come, so that its bind processor can go.
    sqlite3: a float (``to_float`` of a float: the column's REAL affinity converts an int anyway) and a
    bool (an int to sqlite3), ~0.1 us a value, six of them in each step a transition writes. asyncpg: a
    bool (SQLAlchemy only checks that it is one) and an array of values that need no processor (it
    copies the list; asyncpg takes a list as it is), a few in every transition."""
    if isinstance(type_, sa.Boolean):
        return True
    if dialect.name == "sqlite":
        return isinstance(type_, sa.Float) and not type_.asdecimal
    if isinstance(type_, sa.ARRAY):
        return type_.item_type.dialect_impl(dialect).bind_processor(dialect) is None
    return False


def _getter(positions: tuple[str, ...]) -> Callable[[Params], Any]:
    """The arguments of ``positions`` from a mapping, as a tuple (one position: a tuple of one too)."""
    if len(positions) == 1:
        only = positions[0]
        return lambda params: (params[only],)
    return operator.itemgetter(*positions)


def _result_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's result processor; none where it depends on the driver's column type code,
    which is only known per execution: the numeric types, which asyncpg returns as Python numbers."""
    try:
        return type_._cached_result_processor(dialect, None)  # type: ignore[no-any-return]
    except (TypeError, InvalidRequestError):
        return None


def _apply(processor: Callable[[Any], Any] | None, value: Any) -> Any:
    return processor(value) if processor is not None else value


class RawResult:
    """What ``execute`` returns: the rows (typed by the statement's columns) and the row count."""

    def __init__(self, rows: list[Any], rowcount: int):
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)

    def all(self) -> list[Any]:
        return self.rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalars(self) -> RawResult:
        return RawResult([r[0] for r in self.rows], self.rowcount)


def typed_rows(plan: _Plan, raw: Sequence[Sequence[Any]]) -> list[Any]:
    """Driver rows as named tuples, through the columns' result processors."""
    if plan.row is None:
        return []
    make, results = plan.row._make, plan.results  # type: ignore[attr-defined]
    if not plan.converts:
        return [make(r) for r in raw]
    return [make([p(v) if p is not None else v for p, v in zip(results, r, strict=True)]) for r in raw]


class Driver(Protocol):
    """How one driver runs one compiled statement: rows (for statements returning rows) and a count."""

    def run(self, sql: str, args: list[Any], returns_rows: bool) -> tuple[Sequence[Sequence[Any]], int]: ...

    def run_many(self, sql: str, args: list[list[Any]]) -> int: ...

    def plan_generically(self) -> None:
        """Plan the next statement once per connection, where the database would plan it on each
        execution (Postgres); a no-op where it would not."""
        ...

    def run_later(self, sql: str, args: list[Any]) -> None:
        """Run a statement whose rows nobody reads, no later than the next one (or the commit)."""
        ...


class RawConnection:
    """The subset of a SQLAlchemy ``Connection`` the transition functions use, on a raw driver.
    ``state_cache``: the run states this connection's transitions keep (SQLite's inline connection)."""

    def __init__(self, plans: Plans, driver: Driver, state_cache: RunStateCache | None = None):
        self.dialect = plans.dialect
        self.state_cache = state_cache
        self._plans = plans
        self._driver = driver

    def execute(self, statement: Any, parameters: Params | Sequence[Params] | None = None) -> RawResult:
        """Run ``statement`` with one set of parameters, or many (``executemany``; no rows back)."""
        if isinstance(parameters, list | tuple):  # not the Sequence ABC: its check costs ~1 us a statement
            if not parameters:
                return RawResult([], 0)
            plan, sql, first = self._plans.bind(statement, parameters[0])
            if plan.row is None and not plan.expanding:  # one plan for all: the rows name the same columns
                args_of = self._plans.args
                many = [first, *(args_of(plan, p) for p in parameters[1:])]
                return RawResult([], self._driver.run_many(sql, many))
            results = [self.execute(statement, p) for p in parameters]
            return RawResult([r for res in results for r in res.rows], sum(r.rowcount for r in results))
        one: Any = parameters  # a mapping or None (not narrowed by the check above)
        plan, sql, args = self._plans.bind(statement, one or {})
        rows, count = self._driver.run(sql, args, plan.row is not None)
        return RawResult(typed_rows(plan, rows), count)

    def plan_generically(self) -> None:
        """See :meth:`Driver.plan_generically`."""
        self._driver.plan_generically()

    def execute_later(self, statement: Any, parameters: Params) -> None:
        """Run ``statement``, whose rows and count nobody reads, no later than the next statement or the
        commit: on Postgres it travels in their message instead of a round trip of its own."""
        plan, sql, args = self._plans.bind(statement, parameters)
        if plan.expanding:  # its text varies with its lists' lengths: not worth preparing each
            self._driver.run(sql, args, False)
        else:
            self._driver.run_later(sql, args)


class SqliteDriver:
    """``sqlite3``: one connection, used from one thread."""

    def __init__(self, connection: Any):
        self.connection = connection

    def run(self, sql: str, args: list[Any], returns_rows: bool) -> tuple[Sequence[Sequence[Any]], int]:
        cursor = self.connection.execute(sql, args)
        rows = cursor.fetchall() if returns_rows else []
        return rows, cursor.rowcount

    def run_many(self, sql: str, args: list[list[Any]]) -> int:
        return int(self.connection.executemany(sql, args).rowcount)

    def run_later(self, sql: str, args: list[Any]) -> None:
        self.connection.execute(sql, args)  # no network to save a round trip on

    def plan_generically(self) -> None:
        """Nothing to do: sqlite3 keeps each statement compiled in its cache."""


#: What a transition function runs on: SQLAlchemy's connection or the raw one.
AnyConnection: TypeAlias = "Connection | RawConnection"


def planned_generically(statement: ClauseElement) -> Any:
    """``statement`` with each parameter read through a one-row subquery (``$1`` -> ``((SELECT $1::T)::T)``):
    an InitPlan, whose value no plan knows in advance, so that Postgres's custom plans cost what its
    generic one does and it keeps the generic one after its five trial runs. For a statement run outside
    a transaction, where no ``SET LOCAL plan_cache_mode`` can ask for it (``docs/performance.md``)."""

    def through_subquery(element: Any, **_: Any) -> Any:
        if isinstance(element, sa.BindParameter) and element.required:  # a parameter, not a constant
            return sa.cast(sa.select(sa.cast(element, element.type)).scalar_subquery(), element.type)
        return None

    return replacement_traverse(statement, {}, through_subquery)


def plan_generically(conn: AnyConnection) -> None:
    """:meth:`Driver.plan_generically` on the raw path (nothing on SQLAlchemy's connection)."""
    if isinstance(conn, RawConnection):
        conn.plan_generically()


def execute_later(conn: AnyConnection, statement: Any, parameters: Params) -> None:
    """:meth:`RawConnection.execute_later` on either connection (SQLAlchemy's runs it at once)."""
    if isinstance(conn, RawConnection):
        conn.execute_later(statement, parameters)
    else:
        conn.execute(statement, parameters)


def state_cache_of(conn: AnyConnection) -> RunStateCache | None:
    """The run states ``conn``'s transitions keep, if it keeps any (``state_cache``)."""
    return conn.state_cache if isinstance(conn, RawConnection) else None

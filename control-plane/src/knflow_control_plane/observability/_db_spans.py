"""Client spans of SQL statements, from SQLAlchemy's cursor events.

A small stand-in for ``opentelemetry-instrumentation-sqlalchemy``, whose releases pin an older
``opentelemetry-api`` than the one FastAPI requires here. Attributes follow the database semantic
conventions: ``db.system.name``, ``db.namespace``, ``db.operation.name``, ``db.query.text``.
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_KEY: Final = "_knflow_otel_span"
_MAX_QUERY: Final = 2000
_SYSTEMS: Final = {"postgresql": "postgresql", "sqlite": "sqlite"}


def instrument(engine: Engine, tracer: trace.Tracer) -> None:
    """Make a span of every statement ``engine`` runs (under the span current at the time)."""
    system = _SYSTEMS.get(engine.dialect.name, engine.dialect.name)
    namespace = engine.url.database or ""

    @event.listens_for(engine, "before_cursor_execute")
    def _before(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not trace.get_current_span().get_span_context().is_valid:
            return  # the orchestrator's polling is no one's child: it would be a trace per poll
        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(
            operation,
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": system,
                "db.namespace": namespace,
                "db.operation.name": operation,
                "db.query.text": statement[:_MAX_QUERY],
            },
        )
        if context is not None:
            setattr(context, _KEY, span)
        else:
            span.end()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        span = getattr(context, _KEY, None)
        if span is not None:
            span.end()
            setattr(context, _KEY, None)

    @event.listens_for(engine, "handle_error")
    def _error(exception_context: Any) -> None:
        span = getattr(exception_context.execution_context, _KEY, None)
        if span is not None:
            error = exception_context.original_exception
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
            span.end()
            setattr(exception_context.execution_context, _KEY, None)

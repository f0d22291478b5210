"""Observability of the control plane: traces (OpenTelemetry, off unless ``OTEL_*`` asks), Prometheus
metrics at ``/metrics`` and JSON log lines. See ``docs/observability.md``.

Importing this package imports no OpenTelemetry SDK: :func:`start_tracing` does, only when tracing is on.
"""

from __future__ import annotations

from .tracing import run_span_id, start_tracing, tracing_enabled

__all__ = ["run_span_id", "start_tracing", "tracing_enabled"]

"""Whether to trace, and the ids that tie a run's spans together; the SDK lives in ``_otel``.

A run outlives the process that started it, so its span cannot stay open in memory: it is exported
when the run finishes (by whichever replica records the last transition), with

* the run's stored ``trace_id`` as trace id: the trace id of the request that started the run (the
  *trigger* span, made by the FastAPI instrumentation), adopted by ``Orchestrator.submit``;
* a span id derived from the run id (:func:`run_span_id`), so every replica parents attempt spans to
  it without asking anyone;
* the trigger span as parent, its id stored with the run in ``trigger["span_id"]``;
* the run's creation time as start time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from knflow_runtime.tracing import enabled as tracing_enabled

if TYPE_CHECKING:
    from ._otel import Tracing

__all__ = ["Tracing", "run_span_id", "start_tracing", "tracing_enabled"]


def run_span_id(run_id: str) -> str:
    """The span id (16 hex digits, never all zero) of the run ``run_id``'s span."""
    digest = hashlib.sha256(b"knflow-run:" + run_id.encode()).hexdigest()[:16]
    return digest if int(digest, 16) else "0000000000000001"


def start_tracing(environ: Mapping[str, str], service_name: str = "knflow-control-plane") -> Tracing | None:
    """The control plane's tracing when ``environ`` turns it on, else None (and no SDK is imported).

    Args:
        environ: the process environment (``OTEL_*`` variables).
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` says otherwise.
    """
    if not tracing_enabled(environ):
        return None
    from ._otel import Tracing

    return Tracing.from_env(environ, service_name)

"""Tracing costs nothing when it is off: no OpenTelemetry SDK import, in the runtime or the control plane."""

from __future__ import annotations

import os
import subprocess
import sys

from knflow_runtime import tracing

PROBE = """
import sys, asyncio
from knflow import action
import knflow_runtime.lifecycle, knflow_runtime.tracing as t

@action
def noop() -> int:
    return 1

assert t.from_env(__import__("os").environ, noop) is None
from knflow_control_plane.entrypoints.api import create_app
from knflow_control_plane.settings import Settings
create_app(Settings())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk") or m.startswith("opentelemetry.exporter")))
"""


def test_nothing_of_the_sdk_is_imported_without_otel_variables() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KNFLOW_", "OTEL_"))}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_switches() -> None:
    assert not tracing.enabled({})
    assert not tracing.enabled({"OTEL_SERVICE_NAME": "x", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"})
    assert tracing.enabled({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.enabled({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert tracing.enabled({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.enabled({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"})
    assert not tracing.enabled({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://h"})

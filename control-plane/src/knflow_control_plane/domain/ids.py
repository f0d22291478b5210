"""Identifiers the control plane makes: runs' (time-ordered), and W3C trace and span ids."""

from __future__ import annotations

import random
import secrets


def new_run_id(now: float) -> str:
    """A time-ordered run id: 12 hex digits of milliseconds, then 16 random ones."""
    return f"{int(now * 1000):012x}{secrets.token_hex(8)}"


def new_trace_id() -> str:
    """A W3C trace id."""
    return secrets.token_hex(16)


def new_span_id() -> str:
    """A W3C parent (span) id: unique, not secret, so the fast generator (as OpenTelemetry's SDK does)."""
    return f"{random.getrandbits(64) or 1:016x}"

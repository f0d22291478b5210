"""A step that fails twice before it succeeds: the orchestrator retries it with backoff.

The failure count lives in a file so that it survives the function's process (a real flaky
dependency would be a remote service).
"""

import tempfile
from pathlib import Path

from knflow import action, http_trigger, workflow


@action(retries=3, backoff="50ms")
def flaky(key: str, failures: int = 2) -> dict:
    """Fail ``failures`` times for ``key``, then succeed."""
    counter = Path(tempfile.gettempdir()) / f"knflow-flaky-{key}"
    seen = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(seen + 1))
    if seen < failures:
        raise ConnectionError(f"attempt {seen + 1}: the dependency is down")
    return {"attempts": seen + 1}


@workflow(triggers=[http_trigger(path="/flaky", timeout="30s")])
def retried(key: str, failures: int = 2):
    """One flaky step, retried until it succeeds."""
    return flaky(key=key, failures=failures)

"""The chaos run in CI: a minute of workload under faults per database, every invariant checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from .checker import check, report, waits_across_kills
from .runner import chaos


# A minute of chaos, then up to the 90 s bound for every run to end, and the services' own start.
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.kafka])]
)
def test_chaos_run_keeps_every_invariant(database: str, tmp_path: Path) -> None:
    history = asyncio.run(chaos(database, 1.0, tmp_path))
    violations = check(history)
    print(report(history, violations))
    assert {f.name for f in history.faults} >= {"kill-control-plane"}
    assert history.final, "no run was read back"
    resumed = [r for r in history.final.values() if r["workflow"] == "waiter" and r["status"] == "succeeded"]
    assert resumed, "no run waited for its event and resumed"
    assert waits_across_kills(history) > 0, "no control plane was killed while a run waited for its event"
    assert violations == [], report(history, violations)

"""Settings that size the control plane's queues reach the parts they size."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from knflow.cli import app
from knflow_control_plane.bootstrap import build
from knflow_control_plane.settings import Settings, SettingsError, load_settings


async def test_the_pool_size_and_the_door_of_starts_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KNFLOW_DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("KNFLOW_STARTS_AT_ONCE", "7")
    plane = build(Settings(state_dir=tmp_path))
    try:
        assert plane.store.db.pool_size == 3
        assert plane.workflows.starts_at_once == 7
    finally:
        await plane.store.close()


@pytest.mark.parametrize("name", ["KNFLOW_DATABASE_POOL_SIZE", "KNFLOW_STARTS_AT_ONCE"])
def test_a_size_below_one_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0")
    with pytest.raises(SettingsError, match=f"{name}: Input should be greater than or equal to 1"):
        load_settings()


def test_knflow_dev_with_a_bad_variable_says_which_and_exits_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dev", "--state-dir", str(tmp_path)], env={"KNFLOW_WORKER_CAPACITY": "many"})
    assert result.exit_code == 2
    assert "KNFLOW_WORKER_CAPACITY: Input should be a valid integer" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, SettingsError)

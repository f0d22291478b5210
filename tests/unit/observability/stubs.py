"""Just enough of a run store and a function backend for the observability unit tests."""

from __future__ import annotations

from typing import Any, cast

from knflow_control_plane.domain.catalogue import ActionVersion
from knflow_control_plane.domain.records import RunView
from knflow_control_plane.ports import FunctionBackend, FunctionStatus, RunStore


class Store:
    """Serves ``runs`` by id and a fixed list of action versions; counts reads."""

    def __init__(self, runs: dict[str, RunView] | None = None):
        self.runs = runs or {}
        self.reads: list[str] = []

    async def get_run(self, run_id: str, project: str | None = None) -> RunView | None:
        self.reads.append(run_id)
        return self.runs.get(run_id)

    async def list_actions(self, project: str) -> list[ActionVersion]:
        return [_action("shout", "v2"), _action("shout", "v1"), _action("gone", "v1")]


def _action(name: str, version: str) -> ActionVersion:
    return ActionVersion("default", name, version, {}, None, None, "ready", "", None, 0.0, 0.0)


class Backend:
    """Two instances of shout/v2, one of shout/v1, nothing else deployed."""

    async def status(self, action: str, version: str) -> FunctionStatus:
        running = {("shout", "v2"): 2, ("shout", "v1"): 1}
        if (action, version) not in running:
            return FunctionStatus(action, version, ready=False)
        return FunctionStatus(action, version, ready=True, instances=running[(action, version)])


def store(runs: dict[str, RunView] | None = None) -> tuple[Store, RunStore]:
    """A stub store, and the same typed as the port."""
    stub = Store(runs)
    return stub, cast(RunStore, stub)


def backend() -> FunctionBackend:
    """The stub backend typed as the port."""
    return cast(FunctionBackend, Backend())


def run_view(run_id: str, workflow: str, **extra: Any) -> RunView:
    """A finished run as the store would show it."""
    fields: dict[str, Any] = {
        "run_id": run_id,
        "project": "default",
        "workflow": workflow,
        "workflow_version": "w1",
        "status": "succeeded",
        "inputs": {},
        "result": None,
        "error": None,
        "trigger": {"kind": "manual"},
        "trace_id": None,
        "created_at": 1_700_000_000.0,
        "finished_at": 1_700_000_002.5,
    }
    fields.update(extra)
    return RunView(**fields)

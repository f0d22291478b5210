"""The operation history of a chaos run: what the workload sent, the faults, and the run records read back."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Run states after which nothing may change.
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class Sent:
    """One trigger the workload sent: a CloudEvent (``key`` its id) or an HTTP hook request."""

    kind: str
    key: str
    workflow: str
    inputs: dict[str, Any]
    at: float
    accepted: bool = False
    run_id: str | None = None
    tries: int = 0


@dataclass
class Fault:
    """One injected fault: its name, when, and what it hit."""

    name: str
    at: float
    detail: str = ""


@dataclass
class Fence:
    """A replica paused while it held attempts: their ids, checked for a refused late result."""

    worker: str
    attempts: list[str]
    paused_at: float
    resumed_at: float = 0.0


@dataclass
class History:
    """Everything the checker reads: operations, faults, first terminal snapshots and the final records."""

    database: str
    started_at: float = field(default_factory=time.time)
    sent: list[Sent] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    fences: list[Fence] = field(default_factory=list)
    first_terminal: dict[str, dict[str, Any]] = field(default_factory=dict)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_fault_at: float = 0.0
    read_at: float = 0.0
    bound_seconds: float = 90.0

    def fault(self, name: str, detail: str = "") -> None:
        """Record a fault injected now."""
        self.faults.append(Fault(name, time.time(), detail))
        self.last_fault_at = time.time()

    def snapshot(self, run: dict[str, Any]) -> None:
        """Keep a run's record the first time it is seen terminal."""
        if run["status"] in TERMINAL and run["id"] not in self.first_terminal:
            self.first_terminal[run["id"]] = run

    def save(self, path: Path) -> None:
        """Write the history as JSON (for a later look, or to check again offline)."""
        path.write_text(json.dumps(asdict(self), indent=1, default=str))

    @classmethod
    def load(cls, path: Path) -> History:
        """Read a history saved by ``save``."""
        data = json.loads(path.read_text())
        data["sent"] = [Sent(**s) for s in data["sent"]]
        data["faults"] = [Fault(**f) for f in data["faults"]]
        data["fences"] = [Fence(**f) for f in data["fences"]]
        return cls(**data)

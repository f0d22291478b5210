"""Where a transition's Python goes inside the running plane, next to the step it is part of.

    .venv/bin/python bench/transition_parts.py [--quick] [--stores sqlite,postgres]

Runs the chain of ``orchestration_bench.py`` (scenario 1: 10-step chains of no-op actions, one run at a
time) with the parts of every transition timed around their calls: the load's rows into the state
machine's records (``transitions._states``), the planner (``planner.plan``, as the state machine calls
it), the plan's rows (``transitions.add_writes``) and the dialect's writes (``persist``: on Postgres the
writes document and its literal, sent later with the ``COMMIT``; on SQLite the statements themselves).
What is left of a transition is the driver's: round trips, the server, the rows' decoding.

The same code costs two to three times more here than in a loop of its own (``store_bench.py``): between
two transitions a step's other work evicts it from the caches. The numbers are the ones to weigh a leaner
transition against (``docs/performance.md``). Needs the test Postgres for ``postgres``
(``scripts/services/up.sh``).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import arguments
from bench.orchestration_bench import bench_store

from knflow_control_plane.adapters.sqlalchemy import dialects, transitions
from knflow_control_plane.service import state_machine

#: Seconds spent in each part, and how many calls, since the last reset.
SPENT: dict[str, float] = {}
CALLS: dict[str, int] = {}


def _timed(owner: Any, name: str, part: str) -> None:
    """Replace ``owner.name`` by the same function, timed as ``part``."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[part] = SPENT.get(part, 0.0) + time.perf_counter() - began
            CALLS[part] = CALLS.get(part, 0) + 1

    setattr(owner, name, timed)


def _instrument() -> None:
    _timed(transitions, "_states", "rows into records")
    _timed(state_machine, "plan", "planner")
    _timed(transitions, "add_writes", "plan into rows")
    _timed(dialects.SqliteDialect, "persist", "writes")
    _timed(dialects.PostgresDialect, "persist", "writes")


async def main() -> None:
    args = arguments(__doc__)
    _instrument()
    for store in args.stores.split(","):
        SPENT.clear()
        CALLS.clear()
        await bench_store(store, args.quick, "overhead")
        transitions_made = CALLS.get("rows into records", 0)
        if not transitions_made:
            raise SystemExit(f"{store}: no transition was timed (the chain did not run?)")
        parts = {part: SPENT[part] / transitions_made * 1e6 for part in SPENT}
        print(f"{store}: {transitions_made} transitions; us a transition inside the plane:")
        for part, spent in parts.items():
            print(f"  {part:<18} {spent:7.1f}")
        print(f"  {'together':<18} {sum(parts.values()):7.1f}")


if __name__ == "__main__":
    asyncio.run(main())

"""What every test shares: which tests must not run beside each other when `make test` runs two workers.

`make test` runs pytest-xdist with ``--dist loadfile`` (a file's tests on one worker, in order). A group is
a resource a test file changes for everyone; the files of one group take its lock (a file lock in /tmp,
so concurrent checkouts wait for each other too) for as long as their module runs. Everything else runs
freely: most tests wait on processes and sockets rather than on a core. (xdist's own ``loadgroup`` is not
used: with pytest 9 it no longer groups, its node-id suffix is ignored.)
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Path prefix (from the repository root) -> the group of every test file under it. Every other file
# marked ``kafka`` (the shared broker: a test restarts it, another deletes topics every other Kafka test
# may be reading) is in the group "kafka".
GROUPS: dict[str, str] = {
    # Fixed ports of its own Postgres, Kafka and replicas (tests/chaos/runner.py): one chaos run at a time.
    "tests/chaos/test_chaos.py": "chaos",
    # One node's kubelet and containerd: its pods fit one test file at a time.
    "tests/e2e/knative_cluster/": "knative-cluster",
}
LOCKS = Path("/tmp")

# Every run state the SQLite store serves from its cache is read back from the database too; a difference
# fails the transition and is written to this file (``adapters/sqlalchemy/state_cache.py``), by in-process
# stores and by the control planes the tests start (they inherit it) alike. One file per test process.
STATE_CACHE_DIFFERENCES = Path(tempfile.gettempdir()) / f"knflow-state-cache-differences-{os.getpid()}.txt"
os.environ["KNFLOW_CHECK_STATE_CACHE"] = str(STATE_CACHE_DIFFERENCES)


@pytest.fixture(autouse=True)
def _no_state_cache_differences() -> Iterator[None]:
    """Fail the test if a run state served from the SQLite cache differed from the database meanwhile (a
    control plane run as a process only retries the transition that found it: the test might pass)."""
    path = STATE_CACHE_DIFFERENCES
    before = path.stat().st_size if path.exists() else 0
    yield
    if path.exists() and path.stat().st_size > before:
        with path.open("rb") as found:
            found.seek(before)
            pytest.fail("the SQLite state cache differed from the database:\n" + found.read().decode())


def group_of(module: pytest.Module, root: Path) -> str | None:
    """The group of a test file, if it is in one."""
    where = module.path.relative_to(root).as_posix()
    group = next((group for prefix, group in GROUPS.items() if where.startswith(prefix)), None)
    if group is None and module.get_closest_marker("kafka") is not None:
        group = "kafka"
    return group


@pytest.fixture(autouse=True, scope="module")
def _one_file_of_a_group_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hold the group's lock while this test file runs (nothing when it is in no group)."""
    module = request.node
    group = group_of(module, request.config.rootpath) if isinstance(module, pytest.Module) else None
    if group is None:
        yield
        return
    with open(LOCKS / f"knflow-test-group-{group}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield

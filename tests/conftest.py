"""What every test shares: which tests must not run beside each other when `make test` runs two workers.

`make test` runs pytest-xdist with ``--dist loadgroup``: tests of one group run on one worker, one after
the other; everything else is spread freely. Most tests wait on processes and sockets rather than on a core,
so two workers on two cores take about half the time. A group is a resource a test changes for everyone:
"""

from __future__ import annotations

import pytest

# Path prefix (from the repository root) -> the xdist group of every test under it.
GROUPS: dict[str, str] = {
    # The shared broker: a test restarts it, another deletes topics every other Kafka test may be reading.
    "tests/integration/eventing/test_kafka_bus.py": "kafka",
    "tests/e2e/eventing/test_triggers_kafka.py": "kafka",
    # Fixed ports of its own Postgres, Kafka and replicas (tests/chaos/runner.py): one chaos run at a time.
    "tests/chaos/test_chaos.py": "chaos",
    # One node's kubelet and containerd: its pods fit one test file at a time.
    "tests/e2e/knative_cluster/": "knative-cluster",
}


# tryfirst: xdist's worker reads the marks in its own pytest_collection_modifyitems, and its plugin is
# registered after this file, so it would otherwise run first and see none (each group on both workers).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test of a group with ``xdist_group`` (a no-op when xdist is not running)."""
    root = config.rootpath
    for item in items:
        where = item.path.relative_to(root).as_posix()
        for prefix, group in GROUPS.items():
            if where.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))
                break

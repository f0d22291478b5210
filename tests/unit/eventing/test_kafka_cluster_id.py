"""``scripts/services/kafka.sh``'s KRaft cluster ids: what ``start`` formats the broker's storage with.

One id in 64 drawn the plain way starts with ``-``, which the format's command line takes for an option
("argument --cluster-id/-t: expected one argument"): a chaos run's broker failed to start so in CI. 300
draws would show one with 99% odds; none may.
"""

from __future__ import annotations

import re
import subprocess

from tests.services import SCRIPTS

#: 16 bytes in unpadded URL-safe base64, as Kafka's own ``random-uuid`` prints them
CLUSTER_ID = re.compile(r"[A-Za-z0-9_-]{21}[AQgw]")


def test_cluster_ids_are_kafkas_shape_and_never_start_with_a_dash() -> None:
    drawn = subprocess.run(
        ["bash", str(SCRIPTS / "kafka.sh"), "cluster-id", "300"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()

    assert len(drawn) == 300 and len(set(drawn)) == 300
    assert [i for i in drawn if not CLUSTER_ID.fullmatch(i)] == []
    assert [i for i in drawn if i.startswith("-")] == []

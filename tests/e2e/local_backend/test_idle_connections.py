"""After a burst, an instance keeps at most ``IDLE_CONNECTIONS`` keep-alive connections open."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from knflow_control_plane.adapters.local import instances as local_instances
from knflow_control_plane.adapters.local.backend import LocalBackend
from knflow_control_plane.ports import Artifact

from .helpers import invoke_request, outputs, spec

BURST = 24
KEEP = 4


def _sockets() -> int:
    """Sockets this process holds open."""
    fds = Path("/proc/self/fd")
    count = 0
    for fd in os.listdir(fds):
        try:
            count += os.readlink(fds / fd).startswith("socket:")
        except FileNotFoundError:  # the listing's own descriptor, closed since
            continue
    return count


async def test_a_burst_leaves_few_idle_connections(
    tmp_path: Path, artifact: Artifact, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_instances, "IDLE_CONNECTIONS", KEEP)
    backend = LocalBackend(tmp_path / "local")
    try:
        await backend.deploy(spec("acts:nap", name="nap", concurrency=BURST, max_instances=1), artifact)
        await backend.invoke("nap", "v1", invoke_request({"seconds": 0}), timeout=30)  # started, one connection
        before = _sockets()
        replies = await asyncio.gather(
            *[backend.invoke("nap", "v1", invoke_request({"seconds": 0.5, "tag": i}), timeout=30) for i in range(BURST)]
        )
        assert sorted(outputs(r)["tag"] for r in replies) == list(range(BURST))
        assert len({outputs(r)["pid"] for r in replies}) == 1  # one instance served the whole burst
        assert _sockets() - before <= KEEP - 1, "the burst's connections beyond the idle limit stay open"
        # The connections kept are reused: the next burst of KEEP opens none.
        kept = _sockets()
        await asyncio.gather(
            *[backend.invoke("nap", "v1", invoke_request({"seconds": 0}), timeout=30) for _ in range(KEEP)]
        )
        assert _sockets() == kept
    finally:
        await backend.close()

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import ControlPlane


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_LEASE_SECONDS": "2", "KNFLOW_POLL_INTERVAL": "0.2"}).start()
    yield cp
    cp.stop()

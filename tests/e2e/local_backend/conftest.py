"""Fixtures of the local backend's end-to-end tests: real ``knflow_runtime`` processes, real uv."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.local.backend import LocalBackend
from knflow_control_plane.adapters.local.venv import VenvBuilder
from knflow_control_plane.ports import Artifact

from .helpers import CODE, spec


@pytest.fixture
def builder(tmp_path: Path) -> VenvBuilder:
    return VenvBuilder(tmp_path / "builds")


@pytest.fixture
async def artifact(builder: VenvBuilder) -> Artifact:
    """The build of ``CODE`` without requirements: the control plane's interpreter."""
    return (await builder.build(spec("acts:noop"), CODE)).artifact


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(tmp_path / "local", idle_timeout=30.0, stop_grace=1.0, start_timeout=20.0)
    yield backend
    await backend.close()

"""The venv builder with real uv: no venv without requirements, one cached venv per requirement set."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knflow_control_plane.adapters.local.venv import PTH_NAME, VenvBuilder, requirements_hash
from knflow_control_plane.errors import BuildFailed
from knflow_control_plane.ports import CodeBundle

from .helpers import CODE, spec


async def test_no_requirements_uses_the_control_plane_interpreter(builder: VenvBuilder, tmp_path: Path) -> None:
    result = await builder.build(spec("acts:noop"), CODE)

    assert result.artifact.kind == "venv"
    assert result.artifact.location == sys.executable
    assert not (tmp_path / "builds" / "venvs").exists()
    code = Path(result.artifact.code_path or "")
    assert code == tmp_path / "builds" / "code" / CODE.digest
    assert (code / "acts.py").read_bytes() == CODE.files["acts.py"]
    assert "no requirements" in result.logs


async def test_a_requirement_set_is_built_once_then_reused(builder: VenvBuilder, tmp_path: Path) -> None:
    action = spec("acts:uses_six", requirements=["six==1.16.0"])

    # Two builds at once: the second waits for the first and reuses its venv.
    first, second = await asyncio.gather(builder.build(action, CODE), builder.build(action, CODE))
    started = time.perf_counter()
    third = await builder.build(action, CODE)
    cached_seconds = time.perf_counter() - started

    venv = tmp_path / "builds" / "venvs" / sys.implementation.cache_tag / requirements_hash(["six==1.16.0"])
    assert first.artifact.location == second.artifact.location == third.artifact.location == str(venv / "bin/python")
    assert sorted(["built venv" in first.logs, "built venv" in second.logs]) == [False, True]
    assert "six==1.16.0" in (first.logs + second.logs)
    assert "cached" in third.logs
    assert cached_seconds < 0.1
    assert [p.name for p in venv.parent.iterdir() if p.name.startswith(".")] == []  # no temp dirs left
    # The venv has six, and sees knflow and the runtime through the .pth file, after its own packages.
    probe = "import six, knflow, knflow_runtime, sys; print(six.__version__, sys.prefix)"
    out = subprocess.run([str(venv / "bin/python"), "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1.16.0", str(venv)]
    assert next(venv.glob(f"lib/python*/site-packages/{PTH_NAME}")).read_text().strip()


@pytest.mark.parametrize(
    "requirements",
    [["six==1.16.0", "six==1.15.0"], ["six>>>1"]],
    ids=["conflict", "unparsable"],
)
async def test_a_bad_requirement_fails_with_logs_and_leaves_nothing(
    builder: VenvBuilder, tmp_path: Path, requirements: list[str]
) -> None:
    with pytest.raises(BuildFailed) as failed:
        await builder.build(spec("acts:uses_six", requirements=requirements), CODE)

    logs = str(failed.value.fields["logs"])
    assert "uv pip install" in logs
    assert "six" in logs
    venvs = tmp_path / "builds" / "venvs" / sys.implementation.cache_tag
    assert [p.name for p in venvs.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("name", ["../escape.py", "/abs.py", "a/../../b.py"])
async def test_a_bundle_path_outside_its_folder_is_refused(builder: VenvBuilder, name: str) -> None:
    with pytest.raises(BuildFailed, match="invalid path"):
        await builder.build(spec("acts:noop"), CodeBundle(files={name: b""}, digest="bad-paths"))


async def test_an_option_smuggled_as_a_requirement_is_refused(builder: VenvBuilder) -> None:
    with pytest.raises(BuildFailed, match="invalid requirement"):
        await builder.build(spec("acts:noop", requirements=["--index-url=file:///tmp"]), CODE)

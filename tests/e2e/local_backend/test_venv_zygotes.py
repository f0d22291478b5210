"""Actions with requirements are forked by their venv's own zygote: one per venv, a few at most.

The six wheels come from uv's cache (``UV_OFFLINE``): nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from knflow_control_plane.adapters.local.backend import LocalBackend
from knflow_control_plane.adapters.local.venv import VenvBuilder

from .helpers import CODE, alive, children_of, cmdline, invoke_request, outputs, spec, wait_for


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_OFFLINE", "1")


async def _deploy(backend: LocalBackend, builder: VenvBuilder, name: str, requirement: str, entry: str) -> str:
    """Build and deploy ``entry`` with one requirement; the venv's interpreter."""
    action = spec(entry, name=name, requirements=[requirement])
    artifact = (await builder.build(action, CODE)).artifact
    await backend.deploy(action, artifact)
    return artifact.location


async def _call(backend: LocalBackend, name: str, **inputs: Any) -> dict[str, Any]:
    return outputs(await backend.invoke(name, "v1", invoke_request(inputs), timeout=60))


async def test_a_venv_action_is_forked_by_its_venvs_zygote_again_after_scale_to_zero(
    tmp_path: Path, builder: VenvBuilder
) -> None:
    backend = LocalBackend(tmp_path / "local", idle_timeout=0.3, stop_grace=1.0)
    try:
        python = await _deploy(backend, builder, "six", "six==1.16.0", "acts:uses_six")
        first = await _call(backend, "six")
        assert await wait_for(lambda: backend.stats()["instances"] == 0 and not alive(first["pid"]))

        second = await _call(backend, "six")

        zygote = second["ppid"]
        assert second["pid"] != first["pid"]
        assert first["ppid"] == zygote  # the same zygote, still running, served both cold starts
        assert zygote != os.getpid() and alive(zygote)
        assert cmdline(zygote)[:2] == [python, "-P"]
        assert second["executable"] == python
        assert Path(second["prefix"]) == Path(python).parent.parent
        assert second["six"] == "1.16.0"
        stats = backend.stats()
        assert (stats["cold_starts"], stats["cold_starts_forked"], stats["fork_servers"]) == (2, 2, 1)
    finally:
        await backend.close()


async def test_two_venvs_get_two_zygotes(backend: LocalBackend, builder: VenvBuilder) -> None:
    before = set(children_of(os.getpid()))
    old = await _deploy(backend, builder, "old", "six==1.16.0", "acts:uses_six")
    new = await _deploy(backend, builder, "new", "six==1.17.0", "acts:uses_six")

    a, b = await asyncio.gather(_call(backend, "old"), _call(backend, "new"))

    assert (a["six"], b["six"]) == ("1.16.0", "1.17.0")
    assert a["ppid"] != b["ppid"]
    assert (cmdline(a["ppid"])[0], cmdline(b["ppid"])[0]) == (old, new)
    # Nothing runs on the control plane's interpreter, so it has no zygote.
    assert sorted(p for p in children_of(os.getpid()) if p not in before) == sorted([a["ppid"], b["ppid"]])
    assert backend.stats()["fork_servers"] == 2


async def test_a_killed_zygote_falls_back_to_spawn_then_starts_again(tmp_path: Path, builder: VenvBuilder) -> None:
    backend = LocalBackend(tmp_path / "local", idle_timeout=0.3, stop_grace=1.0)
    try:
        python = await _deploy(backend, builder, "six", "six==1.16.0", "acts:uses_six")
        first = await _call(backend, "six")
        zygote = first["ppid"]

        os.kill(zygote, signal.SIGKILL)
        # Its instance dies with it (PDEATHSIG), and the pool sees the exit.
        assert await wait_for(lambda: backend.stats()["instances"] == 0 and not alive(first["pid"]))
        second = await _call(backend, "six")

        assert second["ppid"] == os.getpid()  # spawned by the control plane meanwhile
        assert (second["six"], second["executable"]) == ("1.16.0", python)
        # The zygote is started again in the background: once this instance is gone, it forks again.
        assert await wait_for(lambda: backend.stats()["fork_servers"] == 1 and backend.stats()["instances"] == 0)
        third = await _call(backend, "six")
        assert third["ppid"] not in (os.getpid(), zygote)
        assert cmdline(third["ppid"])[0] == python
        stats = backend.stats()
        assert (stats["cold_starts"], stats["cold_starts_forked"], stats["instances_lost"]) == (3, 2, 1)
    finally:
        await backend.close()


async def test_the_least_recently_used_idle_zygote_makes_room(tmp_path: Path, builder: VenvBuilder) -> None:
    backend = LocalBackend(tmp_path / "local", idle_timeout=0.3, stop_grace=1.0, fork_servers=1)
    try:
        await _deploy(backend, builder, "busy", "six==1.16.0", "acts:nap")
        busy = asyncio.create_task(_call(backend, "busy", seconds=1.5))
        assert await wait_for(lambda: backend.stats()["instances"] == 1)
        other = await _deploy(backend, builder, "other", "six==1.17.0", "acts:uses_six")

        # The only zygote has an instance running: stopping it would kill that instance.
        spawned = await _call(backend, "other")
        napped = await busy
        first_zygote = napped["ppid"]

        assert spawned["ppid"] == os.getpid()
        assert first_zygote != os.getpid()
        # Scaled to zero, and the processes gone: a zygote is held until its instance has exited.
        assert await wait_for(lambda: not alive(napped["pid"]) and not alive(spawned["pid"]))
        await _deploy(backend, builder, "other", "six==1.17.0", "acts:uses_six")  # ensured: warms its zygote
        forked = await _call(backend, "other")

        assert forked["ppid"] not in (os.getpid(), first_zygote)
        assert cmdline(forked["ppid"])[0] == other
        assert await wait_for(lambda: not alive(first_zygote))
        assert backend.stats()["fork_servers"] == 1
    finally:
        await backend.close()


async def test_close_stops_every_zygote_and_instance(tmp_path: Path, builder: VenvBuilder) -> None:
    before = set(children_of(os.getpid()))
    backend = LocalBackend(tmp_path / "local", stop_grace=0.5)
    await _deploy(backend, builder, "old", "six==1.16.0", "acts:uses_six")
    await _deploy(backend, builder, "new", "six==1.17.0", "acts:uses_six")
    plain = (await builder.build(spec("acts:noop", name="plain"), CODE)).artifact
    await backend.deploy(spec("acts:noop", name="plain"), plain)
    await asyncio.gather(*(_call(backend, name) for name in ("old", "new", "plain")))
    zygotes = [pid for pid in children_of(os.getpid()) if pid not in before]
    started = zygotes + [pid for z in zygotes for pid in children_of(z)]
    assert (len(zygotes), len(started)) == (3, 6)

    await backend.close()

    assert [pid for pid in started if alive(pid)] == []
    assert [pid for pid in children_of(os.getpid()) if pid not in before] == []

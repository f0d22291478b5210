"""No process outlives the backend: close() stops everything, and so does a SIGKILLed control plane."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from knflow_control_plane.adapters.local.backend import LocalBackend
from knflow_control_plane.adapters.local.forkserver import ForkServer, ForkServerError
from knflow_control_plane.adapters.local.instances import Instance, Launcher
from knflow_control_plane.adapters.local.zygotes import Zygotes
from knflow_control_plane.errors import FunctionUnavailable
from knflow_control_plane.ports import Artifact

from .helpers import alive, children_of, invoke_request, outputs, spec, wait_for


async def test_close_leaves_no_process_behind(tmp_path: Path, artifact: Artifact) -> None:
    # Children this process had already (other tests' leftovers in a full run) are not this backend's.
    before = set(children_of(os.getpid()))
    backend = LocalBackend(tmp_path / "local", stop_grace=0.5)
    await backend.deploy(spec("acts:noop"), artifact)
    await backend.deploy(spec("acts:nap", name="nap", concurrency=1, max_instances=2), artifact)
    idle_pid = outputs(await backend.invoke("act", "v1", invoke_request(), timeout=30))["pid"]
    busy = [
        asyncio.create_task(backend.invoke("nap", "v1", invoke_request({"seconds": 30}), timeout=60)) for _ in range(2)
    ]
    assert await wait_for(lambda: len(backend.stats()) and backend.stats()["instances"] == 3)
    zygotes = [pid for pid in children_of(os.getpid()) if pid not in before]
    started = zygotes + [pid for z in zygotes for pid in children_of(z)]
    assert idle_pid in started
    assert len(started) == 4  # the fork server and three instances

    await backend.close()

    for call in busy:
        with pytest.raises(FunctionUnavailable):
            await call
    assert [pid for pid in started if alive(pid)] == []
    assert [pid for pid in children_of(os.getpid()) if pid not in before] == []


async def test_a_killed_control_plane_takes_its_functions_down(tmp_path: Path) -> None:
    script = Path(__file__).with_name("killed_control_plane.py")
    control_plane = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert control_plane.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(control_plane.stdout.readline), 60)
        instances = json.loads(line)["instances"]
        zygotes = children_of(control_plane.pid)
        started = [*instances, *zygotes]
        assert len(instances) == 2
        assert all(alive(pid) for pid in started)

        control_plane.send_signal(signal.SIGKILL)
        control_plane.wait()

        assert await wait_for(lambda: not any(alive(pid) for pid in started), 5)
    finally:
        control_plane.kill()
        control_plane.wait()
        if control_plane.stdout is not None:
            control_plane.stdout.close()


async def test_instances_are_spawned_when_the_fork_server_cannot_start(tmp_path: Path, artifact: Artifact) -> None:
    # This process's children of other tests (a session's control plane, under xdist) are not ours.
    others = set(children_of(os.getpid()))
    zygotes = Zygotes(tmp_path / "logs", env=dict(os.environ), start_timeout=0.001)
    launcher = Launcher(tmp_path / "logs", host="127.0.0.1", start_timeout=20, zygotes=zygotes)
    exits: list[Instance] = []
    zygotes.warm(sys.executable)  # as a deploy does: the start fails in the background

    instance = await launcher.start(spec("acts:noop"), artifact, exits.append)
    try:
        assert not instance.forked
        assert await instance.ready()
        assert await zygotes.acquire(sys.executable) is None
        # Not retried at every cold start: one child, the instance.
        assert [pid for pid in children_of(os.getpid()) if pid not in others] == [instance.child.pid]
    finally:
        await instance.stop(1.0)
        await launcher.close()
        await zygotes.close()
    assert exits == [instance]
    assert [pid for pid in children_of(os.getpid()) if pid not in others] == []


async def test_a_zygote_refuses_an_interpreter_without_the_runtime(tmp_path: Path) -> None:
    others = set(children_of(os.getpid()))  # other tests' (a session's control plane, under xdist)
    bare = tmp_path / "bare"  # a venv of the base interpreter, without the control plane's packages
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    zygote = ForkServer(str(bare / "bin" / "python"), tmp_path / "zygote.log", env=env)
    try:
        with pytest.raises(ForkServerError, match="cannot import knflow_runtime"):
            await zygote.start()
    finally:
        await zygote.close()
    assert [pid for pid in children_of(os.getpid()) if pid not in others] == []

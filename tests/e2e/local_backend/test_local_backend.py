"""The local backend with real ``knflow_runtime`` processes: cold and warm, scale out, scale to zero."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from pathlib import Path

import pytest

from knflow_control_plane.adapters.local.backend import LocalBackend
from knflow_control_plane.adapters.local.venv import VenvBuilder
from knflow_control_plane.errors import ActionLoadFailed, DeployFailed, FunctionUnavailable, InvalidRequest
from knflow_control_plane.ports import Artifact

from .helpers import CODE, alive, invoke_request, outputs, spec


async def test_first_invocation_is_a_cold_start_then_the_instance_stays_warm(
    backend: LocalBackend, artifact: Artifact
) -> None:
    deployed = await backend.deploy(spec("acts:noop"), artifact)
    assert (deployed.ready, deployed.instances, deployed.message) == (True, 0, "scaled to zero")

    first = outputs(await backend.invoke("act", "v1", invoke_request({"x": 1}), timeout=30))
    second = outputs(await backend.invoke("act", "v1", invoke_request({"x": 2}), timeout=30))

    assert first["inputs"] == {"x": 1}
    assert second["inputs"] == {"x": 2}
    assert first["pid"] == second["pid"]
    stats = backend.stats()
    assert (stats["cold_starts"], stats["cold_starts_forked"], stats["instances"]) == (1, 1, 1)
    assert 0 < stats["cold_start_last_ms"] < 5000
    status = await backend.status("act", "v1")
    assert (status.instances, status.details["pids"]) == (1, str(first["pid"]))
    assert status.url is not None


async def test_an_idle_instance_stops_and_the_next_call_starts_again(tmp_path: Path, artifact: Artifact) -> None:
    backend = LocalBackend(tmp_path / "local", idle_timeout=0.3)
    try:
        await backend.deploy(spec("acts:noop"), artifact)
        pid = outputs(await backend.invoke("act", "v1", invoke_request(), timeout=30))["pid"]
        assert (await backend.status("act", "v1")).instances == 1

        for _ in range(100):
            if (await backend.status("act", "v1")).instances == 0 and not alive(pid):
                break
            await asyncio.sleep(0.05)
        assert (await backend.status("act", "v1")).instances == 0
        assert not alive(pid)

        again = outputs(await backend.invoke("act", "v1", invoke_request(), timeout=30))
        assert again["pid"] != pid
        assert backend.stats()["cold_starts"] == 2
    finally:
        await backend.close()


async def test_load_scales_out_to_max_instances_and_never_beyond(backend: LocalBackend, artifact: Artifact) -> None:
    await backend.deploy(spec("acts:nap", concurrency=1, max_instances=2), artifact)
    seen: list[int] = []

    async def watch() -> None:
        while True:
            status = await backend.status("act", "v1")
            seen.append(status.instances + int(status.details["starting"]))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    calls = [backend.invoke("act", "v1", invoke_request({"seconds": 0.3, "tag": i}), timeout=30) for i in range(6)]
    results = [outputs(r) for r in await asyncio.gather(*calls)]
    watcher.cancel()

    assert sorted(r["tag"] for r in results) == list(range(6))
    assert len({r["pid"] for r in results}) == 2
    assert max(seen) == 2
    assert backend.stats()["cold_starts"] == 2
    # Each instance ran its three calls one at a time: concurrency 1 is enforced by the backend.
    for pid in {r["pid"] for r in results}:
        spans = sorted((r["started"], r["finished"]) for r in results if r["pid"] == pid)
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))


async def test_waiting_invocations_are_served_first_in_first_out(backend: LocalBackend, artifact: Artifact) -> None:
    await backend.deploy(spec("acts:nap", concurrency=1, max_instances=1), artifact)
    calls = []
    for tag in range(5):
        request = invoke_request({"seconds": 0.05, "tag": tag}, step=f"s{tag}")
        calls.append(asyncio.create_task(backend.invoke("act", "v1", request, timeout=30)))
        await asyncio.sleep(0.01)  # queued in this order

    results = [outputs(r) for r in await asyncio.gather(*calls)]

    by_start = sorted(results, key=lambda r: float(r["started"]))
    assert [r["tag"] for r in by_start] == list(range(5))
    assert len({r["pid"] for r in results}) == 1


async def test_a_sigkilled_instance_is_unavailable_then_replaced(backend: LocalBackend, artifact: Artifact) -> None:
    await backend.deploy(spec("acts:nap"), artifact)
    call = asyncio.create_task(backend.invoke("act", "v1", invoke_request({"seconds": 10}), timeout=30))
    for _ in range(200):
        status = await backend.status("act", "v1")
        if status.details["inflight"] == "1":
            break
        await asyncio.sleep(0.02)
    pid = int(status.details["pids"])

    os.kill(pid, signal.SIGKILL)

    with pytest.raises(FunctionUnavailable, match="unreachable"):
        await call
    after = outputs(await backend.invoke("act", "v1", invoke_request({"seconds": 0}), timeout=30))
    assert after["pid"] != pid
    assert not alive(pid)
    stats = backend.stats()
    assert (stats["cold_starts"], stats["instances_lost"], stats["unavailable"]) == (2, 1, 1)
    assert (await backend.status("act", "v1")).instances == 1


async def test_a_sigkilled_idle_instance_costs_at_most_one_failed_call(
    backend: LocalBackend, artifact: Artifact
) -> None:
    await backend.deploy(spec("acts:noop"), artifact)
    pid = outputs(await backend.invoke("act", "v1", invoke_request(), timeout=30))["pid"]

    os.kill(pid, signal.SIGKILL)
    failures = 0
    for _ in range(2):  # what the orchestrator does: retry an attempt that met FunctionUnavailable
        try:
            result = outputs(await backend.invoke("act", "v1", invoke_request(), timeout=30))
            break
        except FunctionUnavailable:
            failures += 1

    assert failures <= 1
    assert result["pid"] != pid
    assert backend.stats()["cold_starts"] == 2


async def test_a_call_past_its_timeout_fails_and_the_instance_stays_usable(
    backend: LocalBackend, artifact: Artifact
) -> None:
    await backend.deploy(spec("acts:nap"), artifact)
    await backend.invoke("act", "v1", invoke_request({"seconds": 0}), timeout=30)  # warm

    with pytest.raises(TimeoutError):
        await backend.invoke("act", "v1", invoke_request({"seconds": 5}), timeout=0.2)

    assert outputs(await backend.invoke("act", "v1", invoke_request({"seconds": 0}), timeout=30))
    assert backend.stats()["cold_starts"] == 1


async def test_an_action_that_cannot_load_fails_with_its_import_error(
    backend: LocalBackend, artifact: Artifact
) -> None:
    await backend.deploy(spec("broken:run", name="broken"), artifact)

    with pytest.raises(ActionLoadFailed, match="no_such_module_anywhere") as failed:
        await backend.invoke("broken", "v1", invoke_request(), timeout=30)

    # Final, not a lost instance to start again: the orchestrator fails the step at once with these.
    assert str(failed.value).startswith("action broken cannot be imported: cannot import module 'broken'")
    assert str(failed.value).endswith("(broken.py, line 1)")
    assert failed.value.fields["error_type"] == "ModuleNotFoundError"
    trace = str(failed.value.fields["traceback"])
    assert trace.startswith("Traceback") and "import no_such_module_anywhere" in trace and "importlib" not in trace
    assert "knflow-runtime" not in str(failed.value.fields["logs"])
    assert backend.stats()["cold_start_failures"] == 1
    assert (await backend.status("broken", "v1")).instances == 0


async def test_check_load_imports_the_action_where_it_runs_without_starting_it(
    backend: LocalBackend, artifact: Artifact
) -> None:
    signature = await backend.check_load(spec("acts:nap", name="nap"), artifact)

    assert signature["name"] == "nap" and signature["is_async"] is True
    assert signature["inputs"]["seconds"] == {"type": {"type": "number"}, "required": False, "default": 0.2}
    assert (await backend.status("nap", "v1")).ready is False  # nothing deployed, nothing running
    assert backend.stats()["cold_starts"] == 0
    with pytest.raises(ActionLoadFailed, match="No module named 'no_such_module_anywhere'"):
        await backend.check_load(spec("broken:run", name="broken"), artifact)
    with pytest.raises(ActionLoadFailed, match="has no attribute 'missing'"):
        await backend.check_load(spec("acts:missing", name="missing"), artifact)


async def test_unknown_functions_and_foreign_artifacts_are_refused(backend: LocalBackend, artifact: Artifact) -> None:
    with pytest.raises(FunctionUnavailable, match="not deployed"):
        await backend.invoke("nope", "v1", invoke_request(), timeout=5)
    with pytest.raises(DeployFailed, match="venv artifacts"):
        await backend.deploy(spec("acts:noop"), Artifact(kind="image", location="registry/act@sha256:00"))
    with pytest.raises(DeployFailed, match="missing"):
        await backend.deploy(spec("acts:noop"), Artifact(kind="venv", location=artifact.location, code_path="/nope"))
    assert not (await backend.status("nope", "v1")).ready
    await backend.deploy(spec("acts:noop"), artifact)
    smuggled = invoke_request()
    smuggled.headers["ce-subject"] = "s\r\nx-injected: 1"
    with pytest.raises(InvalidRequest, match="line break"):
        await backend.invoke("act", "v1", smuggled, timeout=5)


async def test_undeploy_stops_the_instances(backend: LocalBackend, artifact: Artifact) -> None:
    await backend.deploy(spec("acts:noop"), artifact)
    pid = outputs(await backend.invoke("act", "v1", invoke_request(), timeout=30))["pid"]

    await backend.undeploy("act", "v1")

    assert not alive(pid)
    assert (await backend.status("act", "v1")).message == "not deployed"
    await backend.undeploy("act", "v1")  # a no-op the second time


async def test_an_action_with_requirements_runs_in_its_venv(
    backend: LocalBackend, builder: VenvBuilder, tmp_path: Path
) -> None:
    action = spec("acts:uses_six", name="six", requirements=["six==1.16.0"])
    built = await builder.build(action, CODE)
    await backend.deploy(action, built.artifact)

    result = outputs(await backend.invoke("six", "v1", invoke_request(), timeout=60))

    assert result["six"] == "1.16.0"
    assert Path(result["prefix"]) == Path(built.artifact.location).parent.parent
    stats = backend.stats()
    assert (stats["cold_starts"], stats["cold_starts_forked"]) == (1, 1)  # forked by the venv's zygote
    assert result["executable"] == built.artifact.location

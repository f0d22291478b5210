"""Sub-workflows on a control plane, through the real ``knflow`` command and a real ``knflow dev``: a
workflow calling another starts a child run per call (a run of its own, linked both ways in the records,
the API and the CLI) and binds its result; a failed child fails its step naming it, and a retry of the
parent reuses a succeeded child and runs a failed one again; cancelling a parent cancels its children and
theirs; a child runs the version deployed when its parent run started; a loop of sub-workflows is refused
at registration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .processes import ROOT, ControlPlane, wait_for

CODE = """
import time
from pathlib import Path

from knflow import ActionError, action, approval, http_trigger, workflow


@action
def echo(tag: str) -> str:
    return f"VERSION {tag}"


@action
def once(marker: str) -> str:
    if not Path(marker).exists():  # the first attempt of the test: fails for good
        Path(marker).write_text("failed once")
        raise ActionError(code=503, message="not yet")
    return "ready now"


@action
def hold(seconds: float) -> str:
    time.sleep(seconds)
    return "held"


@workflow
def steady(tag: str) -> dict:
    return {"tag": echo(tag=tag)}


@workflow
def flaky(marker: str) -> dict:
    return {"said": once(marker=marker)}


@workflow
def caller(marker: str):
    kept = steady(tag="kept")
    said = flaky(marker=marker)
    return {"kept": kept["tag"], "said": said["said"]}


@workflow
def inner(seconds: float):
    return hold(seconds=seconds)


@workflow
def middle(seconds: float):
    return inner(seconds=seconds)


@workflow
def outer(seconds: float):
    return middle(seconds=seconds)


@action
def big(n: int) -> str:
    return "x" * n


@action
def measure(text: str) -> int:
    return len(text)


@workflow
def sizer(text: str):
    return {"size": measure(text=text)}


@workflow
def hauler(n: int):
    return sizer(text=big(n=n))["size"]


@workflow(triggers=[http_trigger(path="/family/posted", method="POST", timeout="60s")])
def posted(marker: str):
    return flaky(marker=marker)


@workflow
def lonely(tag: str):
    return echo(tag=tag)


@workflow
def needy(tag: str):
    return lonely(tag=tag)


@workflow
def gated(tag: str):
    approval("Go?", name="gate")
    return steady.named("later")(tag=tag)
"""


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    folder = tmp_path_factory.mktemp("children")
    cp = ControlPlane(folder / ".knflow").start()
    (folder / "children.py").write_text((ROOT / "examples" / "children.py").read_text())
    (folder / "family.py").write_text(CODE.replace("VERSION", "v1"))
    for file in ("children.py", "family.py"):
        deployed = ok_json(cp, "deploy", file)["deployments"]
        assert {d["status"] for d in deployed} == {"ready"}, deployed
    yield cp
    cp.stop()


def ok_json(cp: ControlPlane, *args: str) -> Any:
    done = cp.cli(*args, "--json")
    assert done.returncode == 0, f"knflow {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def get(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["name"]: step for step in run["steps"]}


def finished(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    return dict(wait_for(lambda: (r := get(cp, run_id))["status"] != "running" and r, 90, "the run to end"))


def test_the_example_starts_a_child_run_per_call_linked_both_ways(plane: ControlPlane) -> None:
    ran = plane.cli("run", "album", "-i", "title=holidays", "-i", "cover=beach.png", "-i", "back=dunes.png")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [album] = ok_json(plane, "runs", "--workflow", "album")["runs"]
    run = get(plane, album["id"])
    assert run["result"] == {"album": "holidays: beach@256.png, dunes@64.png", "pages": 2}, run
    assert run["parent_run_id"] is None and run["parent_step"] is None
    called = steps(run)
    assert called["front"]["wait"]["kind"] == "workflow" and called["bind"]["child_run_id"] is None
    thumbnail = httpx.get(f"{plane.url}/v1/workflows/thumbnail/deployment", timeout=30).json()
    for name, image in (("front", "beach@256.png"), ("rear", "dunes@64.png")):
        child = get(plane, called[name]["child_run_id"])
        assert (child["parent_run_id"], child["parent_step"]) == (run["id"], name), child
        assert child["workflow"] == "thumbnail" and child["result"] == {"thumbnail": image}
        assert child["project"] == run["project"] and child["trigger"]["kind"] == "workflow"
        assert child["trace_id"] == run["trace_id"]  # one trace for the family
        assert child["workflow_version"] == called[name]["wait"]["version"] == thumbnail["version"]
        assert called[name]["outputs"] == {"thumbnail": image}

    listed = plane.cli("runs", "-n", "50")
    assert listed.returncode == 0 and listed.stdout.count("↳ thumbnail") == 2, listed.stdout
    top = {r["id"] for r in ok_json(plane, "runs", "--top-level", "-n", "500")["runs"]}
    assert run["id"] in top and called["front"]["child_run_id"] not in top
    children = ok_json(plane, "runs", "--parent", run["id"])["runs"]
    assert {c["id"] for c in children} == {called["front"]["child_run_id"], called["rear"]["child_run_id"]}

    shown = plane.cli("get", run["id"])
    assert "front (workflow thumbnail)" in shown.stdout, shown.stdout
    assert f"step front: child run {called['front']['child_run_id']}" in shown.stdout, shown.stdout
    shown = plane.cli("get", called["rear"]["child_run_id"])
    assert f"parent    {run['id']} (step rear)" in shown.stdout, shown.stdout


def test_a_failed_child_fails_its_step_and_a_retry_reuses_the_child_that_succeeded(
    plane: ControlPlane, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    run_id = str(ok_json(plane, "run", "caller", "-i", f"marker={marker}", "--no-wait")["id"])
    failed = finished(plane, run_id)
    assert failed["status"] == "failed", failed
    first = steps(failed)
    error = failed["error"]
    assert (error["type"], error["step"], error["child_run_id"]) == (
        "ChildRunFailed",
        "flaky",
        first["flaky"]["child_run_id"],
    )
    assert error["message"] == f"child run {error['child_run_id']} of workflow 'flaky' failed at step 'once': not yet"
    assert get(plane, error["child_run_id"])["status"] == "failed"
    shown = plane.cli("get", run_id)
    assert "ChildRunFailed" in shown.stdout + shown.stderr and error["child_run_id"] in shown.stdout + shown.stderr

    retried = plane.cli("retry", run_id)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    done = finished(plane, run_id)
    assert done["status"] == "succeeded" and done["result"] == {"kept": "v1 kept", "said": "ready now"}, done
    again = steps(done)
    assert again["steady"]["child_run_id"] == first["steady"]["child_run_id"]  # reused, not run again
    assert len(again["steady"]["attempts"]) == 1 and len(again["flaky"]["attempts"]) == 2
    assert again["flaky"]["child_run_id"] != first["flaky"]["child_run_id"]  # a new child; the failed one stays
    assert {c["id"] for c in ok_json(plane, "runs", "--parent", run_id)["runs"]} == {
        first["steady"]["child_run_id"],
        first["flaky"]["child_run_id"],
        again["flaky"]["child_run_id"],
    }


def test_cancelling_a_parent_cancels_its_children_and_theirs(plane: ControlPlane) -> None:
    run_id = str(ok_json(plane, "run", "outer", "-i", "seconds=300", "--no-wait")["id"])

    def holding() -> str | None:
        middle = steps(get(plane, run_id))["middle"]["child_run_id"]
        inner = middle and steps(get(plane, middle))["inner"]["child_run_id"]
        return inner and steps(get(plane, inner))["hold"]["status"] == "running" and str(inner)

    inner = wait_for(holding, 90, "the grandchild's step to run")
    middle = get(plane, inner)["parent_run_id"]
    cancelled = plane.cli("cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    for family in (run_id, middle, inner):
        assert finished(plane, family)["status"] == "cancelled", family
    assert steps(get(plane, inner))["hold"]["attempts"][0]["status"] == "cancelled"
    assert steps(get(plane, run_id))["middle"]["status"] == "cancelled"


def test_a_child_runs_the_version_deployed_when_its_parent_started(plane: ControlPlane) -> None:
    run_id = str(ok_json(plane, "run", "gated", "-i", "tag=pinned", "--no-wait")["id"])
    wait_for(lambda: steps(get(plane, run_id))["gate"]["status"] == "waiting", 60, "the gate")
    folder = plane.state_dir.parent
    (folder / "family.py").write_text(CODE.replace("VERSION", "v2"))
    redeployed = ok_json(plane, "deploy", "family.py", "-w", "steady")["deployments"]
    assert redeployed[0]["status"] == "ready", redeployed
    approved = plane.cli("approve", run_id, "gate")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    done = finished(plane, run_id)
    assert done["status"] == "succeeded" and done["result"] == {"tag": "v1 pinned"}, done  # not v2
    later = str(ok_json(plane, "run", "gated", "-i", "tag=new", "--no-wait")["id"])
    wait_for(lambda: steps(get(plane, later))["gate"]["status"] == "waiting", 60, "the gate")
    assert plane.cli("approve", later, "gate").returncode == 0
    assert finished(plane, later)["result"] == {"tag": "v2 new"}


def test_a_loop_of_sub_workflows_is_refused_at_registration_naming_the_step(plane: ControlPlane) -> None:
    def register(name: str, calls: str | None) -> httpx.Response:
        step = {"name": "call", "workflow": {"name": calls}} if calls else {"name": "call", "sleep": {"seconds": 1}}
        spec = {"api_version": "knflow.dev/v2", "name": name, "steps": [step]}
        body = yaml.safe_dump(spec)
        return httpx.post(
            f"{plane.url}/v1/workflows", content=body, headers={"content-type": "application/yaml"}, timeout=60
        )

    itself = register("narcissus", "narcissus")
    assert (itself.status_code, itself.json()["field"]) == (422, "steps.call.workflow.name"), itself.text
    assert "workflow 'narcissus' cannot run itself as a step" in itself.json()["detail"]
    assert register("ping", None).status_code in (200, 201)
    assert register("pong", "ping").status_code in (200, 201)
    loop = register("ping", "pong")  # ping -> pong -> ping
    assert (loop.status_code, loop.json()["field"]) == (422, "steps.call.workflow.name"), loop.text
    assert "a loop of sub-workflows: ping -> pong -> ping" in loop.json()["detail"]


def test_an_http_trigger_answers_with_the_action_error_a_child_raised(plane: ControlPlane, tmp_path: Path) -> None:
    body = {"marker": str(tmp_path / "posted")}
    failed = httpx.post(f"{plane.url}/hooks/family/posted", json=body, timeout=90)
    assert failed.status_code == 503, failed.text  # the child's ActionError(code=503), as if the parent raised it
    reply = failed.json()
    assert reply["step"] == "flaky" and reply["code"] == 503
    assert reply["error"].endswith("of workflow 'flaky' failed at step 'once': not yet"), reply
    done = httpx.post(f"{plane.url}/hooks/family/posted", json=body, timeout=90)
    assert done.status_code == 200 and done.json() == {"said": "ready now"}, done.text


def test_a_large_value_reaches_the_child(plane: ControlPlane) -> None:
    size = 300_000  # above the 256 KiB kept inline: stored as an object, fetched back for the child
    ran = ok_json(plane, "run", "hauler", "-i", f"n={size}")
    assert ran["status"] == "succeeded" and ran["result"] == size, ran


def test_a_parent_whose_child_is_not_deployed_does_not_start(plane: ControlPlane) -> None:
    assert plane.cli("undeploy", "lonely").returncode == 0
    refused = httpx.post(f"{plane.url}/v1/runs", json={"workflow": "needy", "inputs": {"tag": "t"}}, timeout=30)
    assert refused.status_code == 409, refused.text
    assert refused.json()["field"] == "steps.lonely.workflow"
    assert "step 'lonely' runs workflow 'lonely', which is not deployed: deploy it first" in refused.json()["detail"]
    told = plane.cli("run", "needy", "-i", "tag=t")
    assert told.returncode != 0 and "which is not deployed" in told.stderr and "Traceback" not in told.stderr


def test_a_plane_killed_while_a_grandchild_runs_finishes_the_family_once(tmp_path: Path) -> None:
    cp = ControlPlane(tmp_path / ".knflow").start()
    try:
        (tmp_path / "family.py").write_text(CODE.replace("VERSION", "v1"))
        assert {d["status"] for d in ok_json(cp, "deploy", "family.py")["deployments"]} == {"ready"}
        run_id = str(ok_json(cp, "run", "outer", "-i", "seconds=4", "--no-wait")["id"])

        def holding() -> str | None:
            middle = steps(get(cp, run_id))["middle"]["child_run_id"]
            inner = middle and steps(get(cp, middle))["inner"]["child_run_id"]
            return inner and steps(get(cp, inner))["hold"]["status"] == "running" and str(inner)

        wait_for(holding, 90, "the grandchild's step to run")
        cp.kill()  # no clean-up: the children's ends are settled by the restarted plane's poll
        cp.start()
        done = finished(cp, run_id)
        assert done["status"] == "succeeded" and done["result"] == {"result": "held"}, done
        family = [run_id]
        for _ in range(2):
            [child] = ok_json(cp, "runs", "--parent", family[-1])["runs"]  # one child per step, no second
            assert child["status"] == "succeeded", child
            family.append(child["id"])
        assert ok_json(cp, "runs", "--parent", family[-1])["runs"] == []
    finally:
        cp.stop()

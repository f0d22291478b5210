"""Projects on ONE control plane (a real ``knflow dev``): created through the API and the CLI, each with its
own keys, secrets, workflows, runs and files. Project A's admin key reaches nothing of project B through
any route of the app; runs of both run at once, each action resolved in its own project; a project with
deployed workflows is deleted only with ``--force``, which removes everything of it."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .processes import ControlPlane, wait_for
from .test_access_isolation import FLOWS, _routes

BOOT = "operator-bootstrap-key-0123456789"
OPERATOR = {"KNFLOW_API_KEY": BOOT}
# The same workflow and action names in both projects, with different code and the same secret's name.
CALC = '''
import os

from knflow import action, workflow


@action(secrets=["TOKEN"])
def compute(value: int) -> str:
    """Which project's code ran, with which project's secret."""
    return f"{PREFIX}:{value}:{os.environ['TOKEN']}"


@workflow
def calc(value: int = 0) -> object:
    """One step."""
    return compute(value=value)
'''


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    """One control plane with keys on (SQLite in ``.knflow``, as a user runs it)."""
    started = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_AUTH": "true", "KNFLOW_BOOTSTRAP_KEY": BOOT}).start()
    yield started
    started.stop()


def _create(plane: ControlPlane, name: str) -> str:
    """``knflow projects create NAME`` as the operator; the new project's admin key."""
    done = plane.cli("projects", "create", name, "--json", env=OPERATOR)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["name"] == name and created["admin_key"]["role"] == "admin"
    return str(created["admin_key"]["key"])


def _deploy(plane: ControlPlane, key: str, path: Path) -> None:
    done = plane.cli("deploy", str(path), "--json", env={"KNFLOW_API_KEY": key})
    assert done.returncode == 0, done.stderr


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_project_a_admin_key_reaches_nothing_of_project_b_on_one_plane(plane: ControlPlane, tmp_path: Path) -> None:
    alpha, beta = _create(plane, "alpha"), _create(plane, "beta")
    again = plane.cli("projects", "create", "beta", env=OPERATOR)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "exists" in again.stderr
    shutil.copytree(FLOWS, tmp_path / "flows")
    _deploy(plane, beta, tmp_path / "flows" / "chain.py")
    assert (
        httpx.put(f"{plane.url}/v1/secrets/TOKEN", json={"value": "b-only"}, headers=_bearer(beta)).status_code == 201
    )
    b_key = httpx.post(f"{plane.url}/v1/api-keys", json={"name": "b"}, headers=_bearer(beta)).json()
    run = httpx.post(f"{plane.url}/v1/runs?wait=60", json={"workflow": "chain"}, headers=_bearer(beta), timeout=90)
    assert run.json()["status"] == "succeeded", run.text
    ids = {"run_id": run.json()["id"], "key_id": b_key["id"], "version": run.json()["workflow_version"]}
    # the plane's default project holds the same workflow: A reaches nothing of it either
    (tmp_path / "default").mkdir()
    chain = (
        (FLOWS / "chain.py").read_text().replace('path="/chain"', 'path="/chain-default"')
    )  # a hook is one project's
    (tmp_path / "default" / "chain.py").write_text(chain)
    _deploy(plane, BOOT, tmp_path / "default" / "chain.py")
    own = httpx.post(f"{plane.url}/v1/runs?wait=60", json={"workflow": "chain"}, headers=_bearer(BOOT), timeout=90)
    assert own.json()["status"] == "succeeded", own.text
    hidden = [*ids.values(), own.json()["id"]]
    before = _state_of(plane, beta)
    values = ids | {"name": "chain", "key": "x", "step": "s0", "number": "1", "path": "chain"}
    for method, template in _routes(tmp_path):
        path = re.sub(r"\{(\w+)(:path)?\}", lambda m: values[m.group(1)], template)
        path = path.replace("/secrets/chain", "/secrets/TOKEN").replace("/projects/chain", "/projects/beta")
        reply = httpx.request(method, f"{plane.url}{path}", headers=_bearer(alpha), json={}, timeout=30)
        assert "b-only" not in reply.text, (method, path, reply.text)
        if "{" in template:  # it names something of B's: not found (or refused), never B's
            assert reply.status_code in (403, 404, 405, 409, 422), (method, path, reply.status_code, reply.text)
        else:  # a listing or a creation in A: nothing of B's in it
            assert reply.status_code < 500, (method, path, reply.status_code, reply.text)
            for secret in (*hidden, '"beta"', '"default"'):
                assert secret not in reply.text, (method, path, reply.text)
    assert _state_of(plane, beta) == before  # B's state is unchanged
    # A project's key names no other project; the operator sees every one
    other = httpx.get(f"{plane.url}/v1/runs", headers=_bearer(alpha) | {"X-Knflow-Project": "beta"})
    assert other.status_code == 403 and other.json()["field"] == "X-Knflow-Project"
    listed = plane.cli("projects", "list", "--json", env=OPERATOR)
    assert {p["name"] for p in json.loads(listed.stdout)["projects"]} >= {"alpha", "beta", "default"}
    mine = plane.cli("projects", "list", "--json", env={"KNFLOW_API_KEY": alpha})
    assert [p["name"] for p in json.loads(mine.stdout)["projects"]] == ["alpha"]
    as_operator = plane.cli("--project", "beta", "runs", "--json", env=OPERATOR)
    assert as_operator.returncode == 0 and ids["run_id"] in as_operator.stdout, as_operator.stderr


def _state_of(plane: ControlPlane, key: str) -> tuple[str, ...]:
    views = (
        "/v1/runs",
        "/v1/workflows",
        "/v1/actions",
        "/v1/api-keys",
        "/v1/secrets",
        "/v1/workflows/chain/deployment",
    )
    return tuple(httpx.get(f"{plane.url}{view}", headers=_bearer(key)).text for view in views)


def test_runs_of_two_projects_run_at_once_each_with_its_own_action_and_secret(
    plane: ControlPlane, tmp_path: Path
) -> None:
    keys = {name: _create(plane, name) for name in ("alpha", "beta")}
    for name, key in keys.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "calc.py").write_text(f"PREFIX = {name!r}\n{CALC}")
        assert (
            plane.cli("secrets", "set", "TOKEN", "--value", f"{name}-token", env={"KNFLOW_API_KEY": key}).returncode
            == 0
        )
        _deploy(plane, key, folder / "calc.py")

    def start(job: tuple[str, int]) -> tuple[str, int, object]:
        name, value = job
        body = {"workflow": "calc", "inputs": {"value": value}}
        reply = httpx.post(f"{plane.url}/v1/runs?wait=120", json=body, headers=_bearer(keys[name]), timeout=150)
        assert reply.json()["status"] == "succeeded", reply.text
        return name, value, reply.json()["result"]

    jobs = [(name, value) for value in range(6) for name in keys]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(start, jobs))
    assert all(result == f"{name}:{value}:{name}-token" for name, value, result in results), results
    actions = {
        name: [
            (a["name"], a["version"])
            for a in httpx.get(f"{plane.url}/v1/actions", headers=_bearer(key)).json()["actions"]
        ]
        for name, key in keys.items()
    }
    [(alpha_name, alpha_version)], [(beta_name, beta_version)] = actions["alpha"], actions["beta"]
    assert alpha_name == beta_name == "compute" and alpha_version != beta_version  # one name, two codes


def test_a_deployed_project_is_deleted_only_with_force_and_then_entirely(plane: ControlPlane, tmp_path: Path) -> None:
    alpha, beta = _create(plane, "alpha"), _create(plane, "beta")
    shutil.copytree(FLOWS, tmp_path / "flows")
    for key in (alpha, beta):
        _deploy(plane, key, tmp_path / "flows" / "signups.py")
    run = httpx.post(
        f"{plane.url}/v1/runs?wait=60",
        json={"workflow": "welcome_mail", "inputs": {"email": "a@b"}},
        headers=_bearer(beta),
        timeout=90,
    )
    assert run.status_code in (200, 201), run.text
    # an event posted with alpha's key starts alpha's runs only, though beta listens to the same type
    signup = {
        "specversion": "1.0",
        "id": "s-1",
        "type": "com.example.signup",
        "source": "/site",
        "data": {"email": "x@y"},
    }
    posted = httpx.post(
        f"{plane.url}/v1/events",
        json=signup,
        headers=_bearer(alpha) | {"content-type": "application/cloudevents+json"},
        timeout=60,
    )
    assert posted.status_code == 202, posted.text
    started = wait_for(
        lambda: httpx.get(f"{plane.url}/v1/runs?workflow=welcome_mail", headers=_bearer(alpha)).json()["runs"],
        60,
        "alpha's run from the event",
    )
    assert len(started) == 1
    beta_runs = httpx.get(f"{plane.url}/v1/runs", headers=_bearer(beta)).json()["runs"]
    assert [r["id"] for r in beta_runs] == [run.json()["id"]]  # none from alpha's event
    refused = plane.cli("projects", "delete", "beta", env=OPERATOR)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "referral_bonus, welcome_mail" in refused.stderr and "force" in refused.stderr
    problem = httpx.delete(f"{plane.url}/v1/projects/beta", headers=_bearer(BOOT))
    assert problem.status_code == 409 and problem.json()["deployed"] == ["referral_bonus", "welcome_mail"]
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert httpx.delete(f"{plane.url}/v1/projects/beta", headers=_bearer(beta)).status_code == 403  # not an operator
    done = plane.cli("projects", "delete", "beta", "--force", env=OPERATOR)
    assert done.returncode == 0 and "undeployed referral_bonus, welcome_mail" in done.stdout, done.stderr
    assert httpx.get(f"{plane.url}/v1/runs", headers=_bearer(beta)).status_code == 401  # its keys are gone
    gone = httpx.get(f"{plane.url}/v1/runs/{run.json()['id']}", headers=_bearer(BOOT) | {"X-Knflow-Project": "beta"})
    assert gone.status_code == 404 and gone.json()["field"] == "X-Knflow-Project"
    listed = json.loads(plane.cli("projects", "list", "--json", env=OPERATOR).stdout)["projects"]
    assert "beta" not in {p["name"] for p in listed}
    # alpha keeps everything: its workflow deployed, its runs starting
    assert (
        httpx.get(f"{plane.url}/v1/workflows/welcome_mail/deployment", headers=_bearer(alpha)).json()["status"]
        == "ready"
    )
    again = httpx.post(
        f"{plane.url}/v1/runs?wait=60",
        json={"workflow": "welcome_mail", "inputs": {"email": "a@b"}},
        headers=_bearer(alpha),
        timeout=90,
    )
    assert again.status_code in (200, 201), again.text


def test_without_keys_the_cli_picks_the_project_with_project(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path / ".knflow").start()
    try:
        assert plane.cli("projects", "create", "beta").returncode == 0
        shutil.copytree(FLOWS, tmp_path / "flows")
        deployed = plane.cli("--project", "beta", "deploy", str(tmp_path / "flows" / "chain.py"))
        assert deployed.returncode == 0, deployed.stderr
        ran = plane.cli("--project", "beta", "run", "chain", "--json")
        assert ran.returncode == 0 and json.loads(ran.stdout)["status"] == "succeeded", ran.stderr
        assert json.loads(plane.cli("runs", "--json").stdout)["runs"] == []  # the default project has none
        by_env = plane.cli("runs", "--json", env={"KNFLOW_PROJECT": "beta"})
        assert len(json.loads(by_env.stdout)["runs"]) == 1, by_env.stderr
        unknown = plane.cli("--project", "nope", "runs")
        assert unknown.returncode == 2 and "no project 'nope'" in unknown.stderr, unknown.stderr
        bad = plane.cli("--project", "Not_A_Name", "runs")
        assert bad.returncode == 2 and "X-Knflow-Project" in bad.stderr, bad.stderr
    finally:
        plane.stop()


@pytest.mark.parametrize("keys", [False, True])
def test_a_custom_trigger_of_another_project_starts_that_projects_runs(tmp_path: Path, keys: bool) -> None:
    env = {"KNFLOW_POLL_INTERVAL": "0.2", **({"KNFLOW_AUTH": "true", "KNFLOW_BOOTSTRAP_KEY": BOOT} if keys else {})}
    plane = ControlPlane(tmp_path / ".knflow", env=env).start()
    operator = OPERATOR if keys else {}
    try:
        assert plane.cli("projects", "create", "beta", env=operator).returncode == 0
        shutil.copy(FLOWS.parent.parent / "eventing" / "flows" / "counter.py", tmp_path / "counter.py")
        deployed = plane.cli("--project", "beta", "deploy", str(tmp_path / "counter.py"), env=operator)
        assert deployed.returncode == 0, deployed.stderr
        headers = {"X-Knflow-Project": "beta", **(_bearer(BOOT) if keys else {})}

        def finished() -> list[dict[str, object]] | None:
            runs = httpx.get(f"{plane.url}/v1/runs?workflow=counted", headers=headers).json()["runs"]
            return runs if len(runs) == 5 and all(r["status"] == "succeeded" for r in runs) else None

        runs = wait_for(finished, 90, "five runs of counted in project beta")
        assert sorted(str(r["result"]) for r in runs) == ["0", "2", "4", "6", "8"]
        default = httpx.get(f"{plane.url}/v1/runs", headers=_bearer(BOOT) if keys else {}).json()["runs"]
        assert default == []  # nothing in the default project
    finally:
        plane.stop()

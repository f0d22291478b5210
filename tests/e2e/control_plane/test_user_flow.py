"""As a user would: `knflow dev`, `knflow deploy`, HTTP triggers, `knflow run`, runs, logs, retry."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx

from .processes import ROOT, ControlPlane, wait_for

EXAMPLES = ROOT / "examples"


def deploy_examples(cp: ControlPlane, tmp: Path) -> None:
    project = tmp / "project"
    shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns("demo.py", "__pycache__"))
    for name in ("pipeline.py", "fanin.py", "lookup.py", "flaky.py"):
        deployed = cp.cli("deploy", str(project / name), "--json")
        assert deployed.returncode == 0, deployed.stderr
        assert all(d["status"] == "ready" for d in json.loads(deployed.stdout)["deployments"]), deployed.stdout


def test_deploy_trigger_and_inspect_like_a_user(control_plane: ControlPlane, tmp_path: Path) -> None:
    deploy_examples(control_plane, tmp_path)
    url = control_plane.url

    reply = httpx.post(f"{url}/hooks/pipeline", json={"text": "to be or not to be"}, timeout=60)
    assert reply.status_code == 200
    assert reply.json() == {"top": ["be", "to", "not"], "distinct": 4}
    run_id = reply.headers["x-knflow-run-id"]

    missing = httpx.post(f"{url}/hooks/users", json={"user": "nobody"}, timeout=60)
    assert missing.status_code == 404
    assert missing.json()["error"] == "user nobody not found"
    assert httpx.post(f"{url}/hooks/users", json={"user": "ada"}, timeout=60).json()["name"] == "Ada Lovelace"

    assert httpx.post(f"{url}/hooks/fanin", params={"x": "3"}, timeout=60).json() == 15  # read as the int it is
    assert httpx.post(f"{url}/hooks/fanin", params={"x": "three"}, timeout=60).status_code == 422
    assert httpx.get(f"{url}/hooks/fanin", timeout=60).status_code == 405
    assert httpx.post(f"{url}/hooks/fanin", json={"x": 3}, timeout=60).json() == 15

    flaky = httpx.post(f"{url}/hooks/flaky", json={"key": f"e2e-{time.time()}"}, timeout=60)
    assert flaky.status_code == 200 and flaky.json() == {"attempts": 3}

    ran = control_plane.cli("run", "pipeline", "-i", "text=a bb bb ccc", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["result"] == {"top": ["bb", "ccc"], "distinct": 2}

    failed = control_plane.cli("run", "users", "-i", "user=nobody", "--json")
    assert failed.returncode == 1

    logs = control_plane.cli("logs", run_id, "--json")
    assert logs.returncode == 0 and "extracted 6 words" in logs.stdout

    listed = json.loads(control_plane.cli("runs", "--json", "--workflow", "pipeline").stdout)
    assert len(listed["runs"]) == 2

    run = httpx.get(f"{url}/v1/runs/{run_id}", timeout=10).json()
    assert [s["name"] for s in run["steps"]] == ["extract", "transform", "load"]
    assert all(s["status"] == "succeeded" and len(s["attempts"]) == 1 for s in run["steps"])
    assert run["trace_id"] and run["duration_ms"] > 0


def test_bad_input_gets_a_problem_naming_the_field_and_stores_nothing(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    deploy_examples(control_plane, tmp_path)
    url = control_plane.url
    before = httpx.get(f"{url}/v1/runs", timeout=10).json()["runs"]
    cases = [
        (httpx.post(f"{url}/v1/runs", json={"workflow": "pipeline", "inputs": {"text": 3}}), "inputs.text"),
        (httpx.post(f"{url}/v1/runs", json={"workflow": "pipeline", "inputs": {"txt": "a"}}), "inputs.txt"),
        (httpx.post(f"{url}/v1/runs", json={"workflow": "pipeline"}), "inputs.text"),
        (httpx.post(f"{url}/v1/runs", json={"workflow": "nope"}), "workflow"),
        (httpx.post(f"{url}/v1/runs", content=b"{not json", headers={"content-type": "application/json"}), ""),
        (httpx.post(f"{url}/hooks/pipeline", content=b"[1]"), "body"),
        (httpx.post(f"{url}/v1/workflows", json={"spec": {"name": "x", "steps": 3}}), "steps"),
        (httpx.post(f"{url}/hooks/pipeline", content=b"x" * (11 * 1024 * 1024)), "body"),
    ]
    for response, field in cases:
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == response.status_code and body["detail"]
        assert field in str(body.get("field", "")), body
    assert httpx.get(f"{url}/v1/runs", timeout=10).json()["runs"] == before


def test_cancel_and_retry_from_failure(control_plane: ControlPlane, tmp_path: Path) -> None:
    project = tmp_path / "flows"
    shutil.copytree(Path(__file__).parent / "flows", project)
    assert control_plane.cli("deploy", str(project / "chain.py")).returncode == 0
    url = control_plane.url
    # 2 s a step: the CLI's own start takes seconds on a loaded machine, and the run must still be going.
    started = httpx.post(f"{url}/v1/runs", json={"workflow": "chain", "inputs": {"delay": 2.0}}, timeout=10).json()
    cancelled = control_plane.cli("cancel", started["id"], "--json")
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["status"] == "cancelled"
    time.sleep(0.5)  # the running attempt's late reply must change nothing
    run = httpx.get(f"{url}/v1/runs/{started['id']}", timeout=10).json()
    assert run["status"] == "cancelled"
    assert not any(s["status"] in ("running", "ready", "pending") for s in run["steps"])

    retried = control_plane.cli("retry", started["id"], "--json", "--timeout", "60")
    assert retried.returncode == 0, retried.stderr
    run = httpx.get(f"{url}/v1/runs/{started['id']}", timeout=10).json()
    assert run["status"] == "succeeded" and run["result"] == 5


def test_actions_register_on_their_own_and_workflows_call_them_by_name(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    import base64
    import sys

    sys.path.insert(0, str(EXAMPLES))
    try:
        import fanin  # type: ignore[import-not-found]  # the examples' module, as the CLI loads it
    finally:
        sys.path.remove(str(EXAMPLES))
    code = {"files": {"fanin.py": base64.b64encode((EXAMPLES / "fanin.py").read_bytes()).decode()}}
    url = control_plane.url
    for action in (fanin.square, fanin.double, fanin.add):
        reply = httpx.post(f"{url}/v1/actions", json={"spec": action.spec.model_dump(mode="json"), "code": code})
        assert reply.status_code == 201, reply.text
    assert httpx.post(f"{url}/v1/actions", json={"spec": {"name": "x"}}).json()["field"].startswith("spec")
    spec = fanin.fanin.spec.model_dump(mode="json")
    spec["actions"] = {}  # the workflow names its actions; the registered versions are used
    assert httpx.post(f"{url}/v1/workflows", json={"spec": spec}).status_code == 201
    assert httpx.post(f"{url}/v1/workflows/fanin/deploy").json()["status"] == "ready"
    assert httpx.post(f"{url}/hooks/fanin", json={"x": 4}, timeout=60).json() == 24
    versions = httpx.get(f"{url}/v1/workflows/fanin/versions").json()["versions"]
    assert len(versions) == 1
    assert httpx.delete(f"{url}/v1/workflows/fanin").status_code == 409  # deployed


def test_the_api_documents_itself_without_the_internet(control_plane: ControlPlane) -> None:
    page = httpx.get(f"{control_plane.url}/docs", timeout=10)
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert httpx.get(f"{control_plane.url}/docs-assets/swagger-ui-bundle.js", timeout=10).status_code == 200
    schema = httpx.get(f"{control_plane.url}/openapi.json", timeout=10).json()
    assert {"/v1/runs", "/v1/workflows", "/v1/runs/{run_id}/retry"} <= set(schema["paths"])


def test_events_and_a_custom_trigger_start_runs_like_a_user_would(control_plane: ControlPlane, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES, project, ignore=shutil.ignore_patterns("demo.py", "__pycache__"))
    deployed = control_plane.cli("deploy", str(project / "orders.py"), "--json")
    assert deployed.returncode == 0, deployed.stderr
    url = control_plane.url
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "order-42",
        "ce-source": "/shop",
        "ce-type": "com.shop.order.created",
        "content-type": "application/json",
    }
    body = {"order": "A-42", "total": 10.0, "region": "eu"}
    for _ in range(2):  # delivered twice: one run
        assert httpx.post(f"{url}/v1/events", headers=headers, json=body, timeout=30).status_code == 202

    def finished(workflow: str) -> list[dict[str, object]] | None:
        runs = httpx.get(f"{url}/v1/runs", params={"workflow": workflow}, timeout=30).json()["runs"]
        return runs if runs and all(r["status"] == "succeeded" for r in runs) else None

    [run] = wait_for(lambda: finished("eu_invoices"), 60, "the invoice run")
    assert run["result"] == {"order": "A-42", "amount": 12.0, "currency": "EUR"}
    [report] = wait_for(lambda: finished("hourly_report"), 60, "the custom trigger's run")
    assert str(report["result"]).startswith("report for ")

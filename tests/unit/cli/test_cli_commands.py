"""The ``knflow`` commands against a fake control plane: output, ``--json`` and exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from knflow.cli import _context, app
from knflow.client import Client

from .fake_api import FakeApi, make_run, make_step

runner = CliRunner()

FLOW = """
from knflow import action, workflow, http_trigger

@action
def shout(text: str) -> dict:
    return {"text": text.upper()}

@workflow(triggers=[http_trigger(path="/shout")])
def loud(text: str):
    return shout(text=text)["text"]
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    api = FakeApi()
    urls: list[str | None] = []

    def make(url: str | None) -> Client:
        urls.append(url)
        return api.client(url)

    monkeypatch.setattr(_context, "make_client", make)
    api.urls = urls  # type: ignore[attr-defined]
    yield api
    sys.modules.pop("cliflow", None)


def finished(status: str = "succeeded", **extra: object) -> dict[str, object]:
    steps = [
        make_step("greet", "succeeded", finished_at="2025-01-01T00:00:00.250000+00:00"),
        make_step(
            "shout",
            status,
            finished_at="2025-01-01T00:00:01+00:00",
            error={"type": "ValueError", "message": "too quiet"} if status == "failed" else None,
        ),
    ]
    return make_run("r1", status, steps, finished_at="2025-01-01T00:00:01.500000+00:00", **extra)


def test_run_parses_inputs_shows_progress_and_the_result(fake: FakeApi) -> None:
    fake.script(make_run("r1", "running", [make_step("greet", "running")]), finished(result={"text": "HI"}))
    result = runner.invoke(
        app, ["run", "hello", "-i", "n=3", "-i", "name=bob", "-i", 'tags=["a"]', "--input-json", '{"n": 1, "x": true}']
    )
    assert result.exit_code == 0, result.output
    assert fake.bodies[0] == {
        "workflow": "hello",
        "inputs": {"n": 3, "x": True, "name": "bob", "tags": ["a"]},
        "version": None,
    }
    lines = result.stdout.splitlines()
    assert any("▶ running" in line and "greet" in line for line in lines)
    assert any("✓ succeeded" in line and "greet" in line and "250 ms" in line for line in lines)
    assert any("shout" in line and "1.00 s" in line for line in lines)
    assert "run r1 ✓ succeeded in 1.50 s" in result.stdout
    assert '"text": "HI"' in result.stdout


def test_run_failure_exits_1_and_names_the_failing_step(fake: FakeApi) -> None:
    fake.script(finished("failed"))
    result = runner.invoke(app, ["run", "hello"])
    assert result.exit_code == 1
    assert "step shout failed: ValueError: too quiet" in result.stderr


def test_run_cancelled_exits_1(fake: FakeApi) -> None:
    fake.script(make_run("r1", "cancelled"))
    result = runner.invoke(app, ["run", "hello"])
    assert result.exit_code == 1
    assert "run cancelled" in result.stderr


def test_run_timeout_exits_3(fake: FakeApi) -> None:
    fake.script(make_run("r1", "running"))
    result = runner.invoke(app, ["run", "hello", "--timeout", "0.2"])
    assert result.exit_code == 3
    assert "still running" in result.stderr
    assert "knflow get r1" in result.stderr


def test_run_json_prints_only_the_final_run(fake: FakeApi) -> None:
    fake.script(make_run("r1", "running"), finished(result=7))
    result = runner.invoke(app, ["run", "hello", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["result"] == 7


def test_run_no_wait_returns_at_once(fake: FakeApi) -> None:
    fake.script(make_run("r1", "running"))
    result = runner.invoke(app, ["run", "hello", "--no-wait", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["status"] == "running"
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "hello", "-i", "novalue"], "expected key=value"),
        (["run", "hello", "--input-json", "[1]"], "must be a JSON object"),
        (["run", "hello", "--input-json", "{"], "not valid JSON"),
    ],
)
def test_bad_inputs_are_usage_errors(fake: FakeApi, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output
    assert fake.requests == []


def test_api_error_is_one_line_on_stderr_with_exit_2(fake: FakeApi) -> None:
    result = runner.invoke(app, ["run", "ghost", "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "error: 404 Not Found: workflow ghost is not deployed"
    assert "Traceback" not in result.output


def test_connection_refused_suggests_knflow_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(_context, "make_client", lambda url: Client(url, transport=httpx.MockTransport(refuse)))
    result = runner.invoke(app, ["get", "r1", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "http://127.0.0.1:9" in result.stderr
    assert "knflow dev" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_url_option_and_env_reach_the_client(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.script(make_run("r1", "succeeded"))
    runner.invoke(app, ["run", "hello", "--no-wait", "--url", "http://a:1"])
    monkeypatch.setenv("KNFLOW_URL", "http://b:2")
    runner.invoke(app, ["get", "r1"])
    assert fake.urls == ["http://a:1", "http://b:2"]  # type: ignore[attr-defined]


def test_deploy_registers_with_code_and_shows_hook_paths(fake: FakeApi, tmp_path: Path) -> None:
    flow = tmp_path / "cliflow.py"
    flow.write_text(FLOW)
    result = runner.invoke(app, ["deploy", str(flow)])
    assert result.exit_code == 0, result.output
    assert "loud" in result.stdout
    assert "POST /hooks/shout" in result.stdout
    assert "ready" in result.stdout
    registered = fake.workflows["loud"]
    assert registered["spec"]["actions"]["shout"]["entrypoint"] == "cliflow:shout"
    assert list(registered["code"]["files"]) == ["cliflow.py"]
    assert fake.requests[-1].url.path == "/v1/workflows/loud/deploy"

    as_json = runner.invoke(app, ["deploy", str(flow), "--json", "-w", "loud"])
    rows = json.loads(as_json.stdout)["deployments"]
    assert rows == [
        {"workflow": "loud", "version": "v1", "created": True, "status": "ready", "error": None,
         "triggers": ["POST /hooks/shout"]}
    ]  # fmt: skip


def test_deploy_failures_and_unknown_workflow(fake: FakeApi, tmp_path: Path) -> None:
    flow = tmp_path / "cliflow.py"
    flow.write_text(FLOW)
    unknown = runner.invoke(app, ["deploy", str(flow), "--workflow", "nope"])
    assert unknown.exit_code == 2
    assert "no workflow 'nope'" in unknown.stderr
    fake.deploy_status = "failed"
    failed = runner.invoke(app, ["deploy", str(flow)])
    assert failed.exit_code == 1
    assert "deploying loud failed: BuildError: pip failed" in failed.stderr
    broken = tmp_path / "other.py"
    broken.write_text("raise RuntimeError('boom')\n")
    spec_error = runner.invoke(app, ["deploy", str(broken)])
    assert spec_error.exit_code == 2
    assert "RuntimeError: boom" in spec_error.stderr
    assert "Traceback" not in spec_error.output


def test_runs_table_and_json(fake: FakeApi) -> None:
    fake.script(finished())
    runner.invoke(app, ["run", "hello", "--no-wait"])
    table = runner.invoke(app, ["runs", "--workflow", "hello", "--status", "succeeded", "-n", "5"])
    assert table.exit_code == 0
    assert "r1" in table.stdout
    assert "succeeded" in table.stdout
    assert "--cursor c2" in table.stdout
    assert dict(fake.requests[-1].url.params) == {"workflow": "hello", "status": "succeeded", "limit": "5"}
    as_json = runner.invoke(app, ["runs", "--json"])
    assert json.loads(as_json.stdout)["runs"][0]["id"] == "r1"


def test_get_shows_step_timings(fake: FakeApi) -> None:
    fake.script(finished("failed"))
    runner.invoke(app, ["run", "hello", "--no-wait"])
    result = runner.invoke(app, ["get", "r1"])
    assert result.exit_code == 0
    assert "250 ms" in result.stdout
    assert "1.00 s" in result.stdout
    assert "ValueError: too quiet" in result.stdout
    assert json.loads(runner.invoke(app, ["get", "r1", "--json"]).stdout)["status"] == "failed"


def test_logs_cancel_retry_undeploy(fake: FakeApi, tmp_path: Path) -> None:
    fake.script(make_run("r1", "running"))
    runner.invoke(app, ["run", "hello", "--no-wait"])
    logs = runner.invoke(app, ["logs", "r1"])
    assert logs.exit_code == 0
    assert "greet · attempt 1 · succeeded" in logs.stdout
    assert "hello from greet" in logs.stdout
    cancel = runner.invoke(app, ["cancel", "r1"])
    assert cancel.stdout.strip() == "run r1: cancelled"
    fake.script(make_run("r1", "running"), finished(result=1))
    retry = runner.invoke(app, ["retry", "r1", "--json"])
    assert retry.exit_code == 0
    assert json.loads(retry.stdout)["result"] == 1
    flow = tmp_path / "cliflow.py"
    flow.write_text(FLOW)
    runner.invoke(app, ["deploy", str(flow)])
    undeploy = runner.invoke(app, ["undeploy", "loud", "--json"])
    assert json.loads(undeploy.stdout) == {
        "workflow": "loud",
        "version": "v1",
        "status": "undeployed",
        "error": None,
        "updated_at": None,
        "source": None,
    }


def test_dev_without_the_control_plane_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "knflow_control_plane.entrypoints.server", None)
    result = runner.invoke(app, ["dev", "--port", "9999"])
    assert result.exit_code == 2
    assert "pip install knflow-control-plane" in result.stderr


def _fake_server(monkeypatch: pytest.MonkeyPatch, serve: Any) -> None:
    """``knflow_control_plane.entrypoints.server`` replaced by one whose ``serve`` is ``serve``."""
    module = type(sys)("knflow_control_plane.entrypoints.server")
    module.StartFailed = type("StartFailed", (RuntimeError,), {})  # type: ignore[attr-defined]
    module.AddressInUse = type("AddressInUse", (module.StartFailed,), {})  # type: ignore[attr-defined]
    module.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "knflow_control_plane.entrypoints.server", module)


def test_dev_serves_with_the_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, object]] = []

    def serve(**kwargs: object) -> int:
        calls.append(kwargs)
        return 130

    _fake_server(monkeypatch, serve)
    result = runner.invoke(app, ["dev", "--port", "9999", "--host", "0.0.0.0", "--state-dir", str(tmp_path)])
    assert result.exit_code == 130, result.output  # serve's status: a second Ctrl-C
    assert calls == [{"host": "0.0.0.0", "port": 9999, "state_dir": tmp_path, "console": True}]


def test_dev_on_a_taken_port_says_so_in_one_line_and_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    def taken(**_: object) -> int:
        raise sys.modules["knflow_control_plane.entrypoints.server"].AddressInUse("cannot listen on 127.0.0.1:8080")

    _fake_server(monkeypatch, taken)
    result = runner.invoke(app, ["dev"])
    assert result.exit_code == 4
    assert result.stderr == "error: cannot listen on 127.0.0.1:8080\n"


def test_run_progress_shows_every_attempt_and_the_retry_not_internal_states(fake: FakeApi) -> None:
    boom = {"type": "RuntimeError", "message": "flaky"}
    first = {"id": "a1", "number": 1, "status": "failed", "error": boom}
    second = {"id": "a2", "number": 2, "status": "succeeded"}
    waiting = make_step("fetch", "ready", attempts=[first], next_attempt_at="2999-01-01T00:00:00+00:00")
    fake.script(
        make_run("r1", "running", [make_step("fetch", "ready", attempts=[]), make_step("save", "pending")]),
        make_run("r1", "running", [waiting, make_step("save", "pending", attempts=[])]),
        make_run("r1", "running", [make_step("fetch", "running", attempts=[first, {**second, "status": "running"}])]),
        make_run(
            "r1",
            "succeeded",
            [make_step("fetch", "succeeded", attempts=[first, second]), make_step("save", "succeeded")],
            result=1,
            finished_at="2025-01-01T00:00:01+00:00",
        ),
    )
    result = runner.invoke(app, ["run", "hello"])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "✗ failed  fetch  attempt 1: RuntimeError: flaky; retrying in" in "\n".join(lines)
    assert "▶ running  fetch  attempt 2" in lines
    assert any(line.startswith("✓ succeeded  fetch  attempt 2") for line in lines)
    assert any(line.startswith("✓ succeeded  save  attempt 1") for line in lines)
    assert not any("ready" in line or "pending" in line for line in lines)


def test_a_request_the_clients_own_model_refuses_is_one_line_naming_the_field(fake: FakeApi) -> None:
    result = runner.invoke(app, ["projects", "create", "Bad Name"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: name: String should match pattern"), result.output
    assert "'Bad Name'" in lines[0] and "Traceback" not in result.output


def test_run_progress_names_the_child_run_a_sub_workflow_step_started(fake: FakeApi) -> None:
    wait = {"kind": "workflow", "workflow": "thumbnail", "version": "0b5f3c2a1d9e"}
    running = {"id": "a1", "number": 1, "status": "running"}
    step = make_step("front", "running", attempts=[running], wait=wait, child_run_id="c1")
    done = make_step("front", "succeeded", attempts=[{**running, "status": "succeeded"}], wait=wait, child_run_id="c1")
    fake.script(
        make_run("r1", "running", [step]),
        make_run("r1", "succeeded", [done], result=1, finished_at="2025-01-01T00:00:01+00:00"),
    )
    result = runner.invoke(app, ["run", "album"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("↳ front  child run c1") == 1, result.stdout

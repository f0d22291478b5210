"""Async reply mode end to end: ``knflow dev`` with the local backend (real runtime processes), the
threshold forced down to 2 s so that the 8 s step of ``flows/long.py`` calls back while its 1 s step
replies synchronously."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from knflow_control_plane.service.reply_tokens import mint
from knflow_runtime.contract import Invocation, encode_result
from tests.e2e.control_plane.processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"
SECRET = "reply-test-secret-0123456789abcdef"
ENV = {
    "KNFLOW_REPLY_MODE_AFTER_SECONDS": "2",
    "KNFLOW_OBJECT_URL_SECRET": SECRET,
    "KNFLOW_LEASE_SECONDS": "2",
    "KNFLOW_POLL_INTERVAL": "0.2",
}


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / ".knflow", env=ENV).start()
    shutil.copytree(FLOWS, tmp_path / "flows")
    deployed = cp.cli("deploy", str(tmp_path / "flows" / "long.py"))
    assert deployed.returncode == 0, deployed.stderr
    yield cp
    cp.stop()


def start(cp: ControlPlane, **inputs: Any) -> str:
    reply = httpx.post(f"{cp.url}/v1/runs", json={"workflow": "long", "inputs": inputs}, timeout=30)
    assert reply.status_code == 201, reply.text
    run_id: str = reply.json()["id"]
    return run_id


def finished(cp: ControlPlane, run_id: str, timeout: float = 60) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=10).json()
        return run if run["status"] != "running" else None

    result: dict[str, Any] = wait_for(done, timeout, f"run {run_id}", interval=0.1)
    return result


def attempts(run: dict[str, Any], step: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = next(s for s in run["steps"] if s["name"] == step)["attempts"]
    return found


def callback_url(cp: ControlPlane, run_id: str, step: str, number: int) -> str:
    return f"{cp.url}/v1/runs/{run_id}/steps/{step}/attempts/{number}/reply"


def result_event(run_id: str, step: str, number: int, outputs: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    invocation = Invocation(run_id, step, number, f"{run_id}/{step}/{number}", {"inputs": {}, "deadline": ""}, None)
    return encode_result(invocation, {"outputs": outputs, "logs": ""}, step)


def function_logs(tmp_path: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (tmp_path / ".knflow" / "functions").rglob("*.log"))


def token(run_id: str, step: str, number: int, expires: float | None = None) -> str:
    return mint(SECRET.encode(), f"{run_id}/{step}/{number}", int(expires or time.time() + 600))


def test_long_step_calls_back_and_the_run_goes_on(control_plane: ControlPlane) -> None:
    run = finished(control_plane, start(control_plane, value=20))
    assert run["status"] == "succeeded", run
    assert run["result"] == 41
    slow = attempts(run, "slow")
    assert [a["status"] for a in slow] == ["succeeded"]
    assert "doubled 20" in slow[0]["logs"]  # the logs travel in the callback as in a reply
    log = control_plane.log()
    assert f"recorded the callback of attempt {run['id']}/slow/1" in log
    assert f"{run['id']}/plus_one/1" not in log.split("recorded the callback", 1)[1]  # the short step replied


def test_action_error_comes_back_by_callback_and_is_not_retried(control_plane: ControlPlane) -> None:
    run = finished(control_plane, start(control_plane, value=3, fail=True))
    assert run["status"] == "failed"
    slow = attempts(run, "slow")
    assert [a["status"] for a in slow] == ["failed"]  # retries=1, but an ActionError is final
    assert slow[0]["error"]["type"] == "ActionError"
    assert slow[0]["error"]["code"] == 422 and slow[0]["error"]["message"] == "refused 3"
    assert run["error"]["step"] == "slow"


def test_forged_missing_and_expired_tokens_are_refused(control_plane: ControlPlane, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    run_id = start(control_plane, value=5, delay=2.0, marker=str(marker))
    wait_for(marker.exists, 30, "the slow step to start")
    url = callback_url(control_plane, run_id, "slow", 1)
    headers, body = result_event(run_id, "slow", 1, {"result": 999})
    forged = mint(b"another-secret-0123456789abcdef", f"{run_id}/slow/1", int(time.time() + 600))
    cases = {
        "forged": ({"authorization": f"Bearer {forged}"}, 403),
        "other attempt": ({"authorization": f"Bearer {token(run_id, 'slow', 2)}"}, 403),
        "tampered expiry": ({"authorization": "Bearer 9999999999." + forged.partition(".")[2]}, 403),
        "expired": ({"authorization": f"Bearer {token(run_id, 'slow', 1, time.time() - 1)}"}, 403),
        "missing": ({}, 401),
        "not bearer": ({"authorization": f"Basic {token(run_id, 'slow', 1)}"}, 401),
    }
    for name, (auth, status) in cases.items():
        reply = httpx.post(url, headers={**headers, **auth}, content=body, timeout=10)
        assert reply.status_code == status, (name, reply.text)
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["field"] == "authorization", name
    # A genuine token with the result of another attempt (its ce-id): 400 naming ce-id, nothing recorded.
    other_headers, other_body = result_event(run_id, "slow", 2, {"result": 999})
    auth = {"authorization": f"Bearer {token(run_id, 'slow', 1)}"}
    mismatch = httpx.post(url, headers={**other_headers, **auth}, content=other_body, timeout=10)
    assert mismatch.status_code == 400 and mismatch.json()["field"] == "ce-id", mismatch.text
    run = finished(control_plane, run_id)  # none of them counted: the function's own result did
    assert run["status"] == "succeeded" and run["result"] == 11


def test_duplicate_and_unknown_callbacks_change_nothing(control_plane: ControlPlane, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    run_id = start(control_plane, value=7, delay=3.0, marker=str(marker))
    wait_for(marker.exists, 30, "the slow step to start")
    # A genuine token posted before the function's own result: the first report wins, the rest are 409.
    headers, body = result_event(run_id, "slow", 1, {"result": 100})
    auth = {"authorization": f"Bearer {token(run_id, 'slow', 1)}"}
    first = httpx.post(callback_url(control_plane, run_id, "slow", 1), headers={**headers, **auth}, content=body)
    assert first.status_code == 200, first.text
    assert first.json() == {"attempt": f"{run_id}/slow/1", "status": "succeeded"}
    again = httpx.post(callback_url(control_plane, run_id, "slow", 1), headers={**headers, **auth}, content=body)
    assert again.status_code == 409 and again.json()["recorded"] == "succeeded"
    run = finished(control_plane, run_id)
    assert run["status"] == "succeeded" and run["result"] == 101
    # The function's own result arrives after that (the action sleeps on): refused, final for the runtime.
    wait_for(lambda: "HTTP 409" in function_logs(tmp_path), 30, "the function's own callback")
    slow = attempts(finished(control_plane, run_id), "slow")
    assert [a["status"] for a in slow] == ["succeeded"] and slow[0]["outputs"] == {"result": 100}
    # An attempt that never existed (valid token, unknown id) is 404; attempt 0 is not an attempt number.
    ghost = httpx.post(
        callback_url(control_plane, run_id, "slow", 9),
        headers={**result_event(run_id, "slow", 9, {})[0], "authorization": f"Bearer {token(run_id, 'slow', 9)}"},
        content=body,
    )
    assert ghost.status_code == 404, ghost.text
    bad = httpx.post(callback_url(control_plane, run_id, "slow", 0), headers=auth, content=body)
    assert bad.status_code == 422 and bad.json()["field"] == "path.number"

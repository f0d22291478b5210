"""API keys as users expect (roles, expiry, revocation, rate limits), public and keyed hooks, and
secrets that reach functions and nothing else: a real `knflow dev` with KNFLOW_AUTH on, driven by the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from .processes import BIN, ControlPlane

FLOWS = Path(__file__).parent / "flows"
BOOT = "boot-secret-0123456789"
GREETING = "s3cr3t-greeting-value-41"


def _cli(cp: ControlPlane, key: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "knflow"), *args, "--url", cp.url],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        cwd=cp.state_dir.parent,
        check=False,
        env={"KNFLOW_API_KEY": key, "PATH": str(BIN)},
    )


def _key(cp: ControlPlane, name: str, *flags: str) -> dict[str, str]:
    made = _cli(cp, BOOT, "keys", "create", name, *flags, "--json")
    assert made.returncode == 0, made.stderr
    created: dict[str, str] = json.loads(made.stdout)
    return created


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[ControlPlane]:
    env = {"KNFLOW_AUTH": "true", "KNFLOW_BOOTSTRAP_KEY": BOOT, "KNFLOW_HOOK_RATE_LIMIT": "1000"}
    cp = ControlPlane(tmp_path / ".knflow", env=env).start()
    shutil.copytree(FLOWS, tmp_path / "flows")
    yield cp
    cp.stop()


def test_roles_public_hooks_and_secrets(guarded: ControlPlane) -> None:
    cp, url = guarded, guarded.url
    assert _cli(cp, BOOT, "secrets", "set", "GREETING", stdin=GREETING).returncode == 0
    listed = _cli(cp, BOOT, "secrets", "list", "--json")
    assert [s["name"] for s in json.loads(listed.stdout)["secrets"]] == ["GREETING"]
    assert GREETING not in listed.stdout and GREETING not in httpx.get(f"{url}/v1/secrets", headers=_bearer(BOOT)).text
    deployed = _cli(cp, BOOT, "deploy", str(cp.state_dir.parent / "flows" / "guarded.py"), "--json")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout

    invoke, read = _key(cp, "ci", "--role", "invoke")["key"], _key(cp, "dash", "--role", "read")["key"]
    # the keyed hook: an invoke key runs it (and the function got the secret), no key learns nothing
    reply = httpx.post(f"{url}/hooks/greet", json={"name": "Ada"}, headers=_bearer(invoke), timeout=60)
    assert reply.status_code == 200 and reply.json() == f"{GREETING}, Ada"
    assert httpx.post(f"{url}/hooks/greet", json={}, timeout=10).status_code == 401
    assert httpx.post(f"{url}/hooks/nowhere", json={}, timeout=10).status_code == 401  # not 404: no key, no map
    assert httpx.post(f"{url}/hooks/welcome", json={"name": "Bo"}, timeout=60).json() == f"{GREETING}, Bo"
    # invoke: hooks and events only
    assert httpx.get(f"{url}/v1/runs", headers=_bearer(invoke)).status_code == 403
    assert httpx.post(f"{url}/v1/runs", json={"workflow": "greeting"}, headers=_bearer(invoke)).status_code == 403
    event = {"specversion": "1.0", "id": "e1", "source": "/ci", "type": "ci.done"}
    headers = _bearer(invoke) | {"content-type": "application/cloudevents+json"}
    assert httpx.post(f"{url}/v1/events", json=event, headers=headers).status_code == 202
    # read: runs and logs only
    run_id = reply.headers["x-knflow-run-id"]
    assert httpx.get(f"{url}/v1/runs/{run_id}/logs", headers=_bearer(read)).status_code == 200
    assert httpx.post(f"{url}/hooks/greet", json={}, headers=_bearer(read)).status_code == 403
    assert httpx.post(f"{url}/v1/api-keys", json={"name": "x"}, headers=_bearer(read)).status_code == 403
    assert httpx.put(f"{url}/v1/secrets/X", json={"value": "v"}, headers=_bearer(read)).status_code == 403
    # the secret is in no log of the control plane or the function, nor in the database as text
    logs = "".join(p.read_text(errors="replace") for p in cp.state_dir.parent.rglob("*.log"))
    assert "Ada" in httpx.get(f"{url}/v1/runs/{run_id}", headers=_bearer(read)).text
    assert GREETING not in logs
    assert GREETING.encode() not in (cp.state_dir / "knflow.db").read_bytes()


def test_expiry_and_revocation_take_effect(guarded: ControlPlane) -> None:
    cp, url = guarded, guarded.url
    # 5 s: the CLI that makes the key may take seconds to start on a loaded machine, and the key must
    # still be live for the first request; then wait out what is left of it
    short = _key(cp, "short", "--expires", "5s")
    assert short["expires_at"] is not None
    assert httpx.get(f"{url}/v1/runs", headers=_bearer(short["key"])).status_code == 200
    expires = datetime.fromisoformat(short["expires_at"]).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    refused = httpx.get(f"{url}/v1/runs", headers=_bearer(short["key"]))
    assert refused.status_code == 401 and refused.json()["field"] == "authorization"

    kept = _key(cp, "kept")
    assert httpx.get(f"{url}/v1/runs", headers=_bearer(kept["key"])).status_code == 200  # cached as live
    assert _cli(cp, BOOT, "keys", "revoke", kept["id"]).returncode == 0
    assert httpx.get(f"{url}/v1/runs", headers=_bearer(kept["key"])).status_code == 401  # at once, no wait
    listed = json.loads(_cli(cp, BOOT, "keys", "list", "--json").stdout)["api_keys"]
    assert {k["name"]: k["revoked_at"] is not None for k in listed} == {"short": False, "kept": True}
    assert all("key" not in k for k in listed)
    assert _cli(cp, BOOT, "keys", "create", "bad", "--role", "root").returncode == 2


def test_rate_limits_answer_429_with_retry_after(tmp_path: Path) -> None:
    env = {
        "KNFLOW_AUTH": "true",
        "KNFLOW_BOOTSTRAP_KEY": BOOT,
        "KNFLOW_KEY_RATE_LIMIT": "0.5",
        "KNFLOW_HOOK_RATE_LIMIT": "0.5",
    }
    cp = ControlPlane(tmp_path / ".knflow", env=env).start()
    try:
        key, other, third, fourth = (_key(cp, name)["key"] for name in ("slow", "other", "third", "fourth"))
        assert httpx.get(f"{cp.url}/v1/runs", headers=_bearer(key)).status_code == 200
        limited = httpx.get(f"{cp.url}/v1/runs", headers=_bearer(key))
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        # per key: another key is not held back
        assert httpx.get(f"{cp.url}/v1/runs", headers=_bearer(other)).status_code == 200
        # per hook: a path over its limit is refused before anything else is looked at
        assert httpx.post(f"{cp.url}/hooks/busy", json={}, headers=_bearer(third)).status_code == 404
        hook = httpx.post(f"{cp.url}/hooks/busy", json={}, headers=_bearer(fourth))
        assert hook.status_code == 429 and "/hooks/busy" in hook.json()["detail"]
    finally:
        cp.stop()

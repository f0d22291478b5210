"""Starting ``python -m knflow_runtime`` processes and talking the invoke contract to them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx

from knflow.wire import InvokeData
from knflow_runtime.contract import decode_result, encode_invoke

HERE = Path(__file__).parent
_READY = re.compile(r"knflow-runtime ready action=(\S+) host=(\S+) port=(\d+)")
# The environment sets PYTHONDONTWRITEBYTECODE: without a bytecode cache every runtime process would
# compile pydantic from source. A cache outside the source tree keeps the tree clean.
PYCACHE = Path(tempfile.gettempdir()) / "knflow-runtime-tests-pycache"


class RuntimeProcess:
    """One runtime serving ``actions_fixture:{action}`` on a free loopback port."""

    def __init__(self, action: str, *args: str, env: dict[str, str] | None = None, via_env: bool = False):
        self.log_path = Path(tempfile.mkstemp(prefix="knflow-runtime-", suffix=".log")[1])
        environ = {**runtime_env(), **(env or {})}
        command = [sys.executable, "-m", "knflow_runtime", *args]
        target = {"KNFLOW_ACTION": f"actions_fixture:{action}", "KNFLOW_CODE_PATH": str(HERE), "PORT": "0"}
        if via_env:  # how a container starts it
            environ.update(target)
        else:
            command += ["--action", target["KNFLOW_ACTION"], "--code-path", str(HERE), "--port", "0"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=environ)
        self.port = 0

    def wait_ready(self, timeout: float = 30.0) -> RuntimeProcess:
        """Block until the ready line names the port."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            match = _READY.search(self.output())
            if match:
                self.port = int(match.group(3))
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"runtime exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.02)
        raise TimeoutError(f"runtime not ready after {timeout}s:\n{self.output()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, and return the exit code."""
        self.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log_path.unlink(missing_ok=True)
        return code


def runtime_env() -> dict[str, str]:
    """This process's environment without anything that would steer a runtime, plus the bytecode cache."""
    inherited = ("PYTHONDONTWRITEBYTECODE", "K_SERVICE", "PORT")
    environ = {k: v for k, v in os.environ.items() if k not in inherited and not k.startswith("KNFLOW_")}
    return {**environ, "PYTHONPYCACHEPREFIX": str(PYCACHE)}


def deadline(seconds: float) -> str:
    """An RFC 3339 deadline ``seconds`` from now."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def new_run() -> str:
    return uuid.uuid4().hex[:12]


def invoke_request(
    inputs: dict[str, Any],
    *,
    run_id: str | None = None,
    step: str = "step",
    attempt: int = 1,
    within: float = 30.0,
    traceparent: str | None = None,
    **extra: Any,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of an invoke event (a fresh run id unless given)."""
    data: dict[str, Any] = {"inputs": inputs, "deadline": deadline(within), **extra}
    return encode_invoke(run_id or new_run(), step, attempt, cast("InvokeData", data), traceparent)


def decode(headers: Mapping[str, str], body: bytes) -> tuple[str, dict[str, Any], str]:
    """``decode_result`` with the data as a plain dict, which tests index freely."""
    event_type, data, invoke_id = decode_result(headers, body)
    return event_type, cast("dict[str, Any]", data), invoke_id


async def invoke(
    client: httpx.AsyncClient, url: str, inputs: dict[str, Any], **kwargs: Any
) -> tuple[str, dict[str, Any]]:
    """POST one invocation and decode the result event: ``(event type, data)``."""
    headers, body = invoke_request(inputs, **kwargs)
    response = await client.post(url + "/", headers=headers, content=body)
    assert response.status_code == 200, response.text
    event_type, data, _ = decode(response.headers, response.content)
    return event_type, data

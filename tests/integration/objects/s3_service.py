"""Where the test S3 endpoint (moto) is, starting it on demand with ``scripts/services/s3.sh``.

Plain Python (no pytest import). A server that cannot start raises RuntimeError carrying the script's
output: the tests fail, never skip.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "services" / "s3.sh"
S3_ENV = "KNFLOW_TEST_S3_ENDPOINT"
_TIMEOUT_S = 120.0


def s3_endpoint() -> str:
    """``http://127.0.0.1:PORT`` of the test S3 server (any access key works)."""
    value = os.environ.get(S3_ENV)
    if value:
        return value
    _run("start")
    for line in _run("env").splitlines():
        name, _, val = line.removeprefix("export ").partition("=")
        if name == S3_ENV and val:
            os.environ[S3_ENV] = val  # later calls and child processes reuse it
            return val
    raise RuntimeError(f"{SCRIPT} env did not print {S3_ENV}")


def _run(command: str) -> str:
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), command],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"cannot run {SCRIPT} {command}: {exc}") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"{SCRIPT} {command} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout

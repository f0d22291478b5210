"""Control planes started as a user would: ``knflow dev`` processes on loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ControlPlane:
    """One ``knflow dev`` process."""

    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ControlPlane:
        # The plane's temporary files, and its functions' (they inherit TMPDIR), stay with the test's
        # own files: actions that return a temporary file (the files flows write 200 MB ones) leave it.
        scratch = self.state_dir.parent / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TMPDIR": str(scratch), **self.env}
        with (self.state_dir.parent / f"control-plane-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "knflow"), "dev", "--port", str(self.port), "--state-dir", str(self.state_dir)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir.parent,
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"knflow dev exited with {self.process.returncode}: {self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health/readiness", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"knflow dev did not become ready: {self.log()[-3000:]}")

    def log(self) -> str:
        path = self.state_dir.parent / f"control-plane-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def cli(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``knflow ARGS --url URL`` (with ``env`` over this process's environment)."""
        return subprocess.run(
            [str(BIN / "knflow"), *args, "--url", self.url],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.state_dir.parent,
            check=False,
            env={**os.environ, **env} if env else None,
        )


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")

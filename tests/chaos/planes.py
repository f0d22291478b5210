"""Processes the chaos run starts and may kill: ``knflow dev`` replicas and its own Postgres and Kafka.

Only processes started here are signalled (by their pid); the shared test services are never touched:
the run's Postgres and Kafka listen on their own ports with their own state dirs.
"""

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
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services"


@dataclass
class Plane:
    """One ``knflow dev`` replica: started, killed, paused and resumed by pid."""

    name: str
    workdir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        """Where the replica listens."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        """Alive and not paused: worth sending requests to."""
        return self.process is not None and self.process.poll() is None and not self.paused

    def start(self, timeout: float = 90.0) -> None:
        """Start ``knflow dev`` and wait until it is ready."""
        ensure_free(self.port)  # else readiness would be read from whoever holds the port
        env = {**os.environ, **self.env, "KNFLOW_WORKER_NAME": self.name}
        with (self.workdir / f"{self.name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "knflow"), "dev", "--port", str(self.port), "--state-dir", str(self.workdir / ".knflow")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self.starts += 1
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.workdir}")
            try:
                if httpx.get(f"{self.url}/health/readiness", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f}s; see {self.workdir}")

    def kill(self) -> None:
        """SIGKILL: no drain, no clean-up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the replica keeps its leases but does nothing until resumed."""
        assert self.process is not None
        self.paused = True
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        """SIGTERM (resumed first if paused), SIGKILL if it does not drain in time."""
        if self.process is None or self.process.poll() is not None:
            return
        if self.paused:
            self.resume()
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


def ensure_free(port: int) -> None:
    """Raise unless nothing listens on ``port`` (a chaos run's fixed ports: another run may hold them).

    Raises:
        RuntimeError: naming the port.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT holds nothing
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise RuntimeError(f"port {port} is taken by another process (another chaos run?)") from exc


@dataclass
class Service:
    """The run's own Postgres or Kafka, driven by the project's scripts with their own port and dir."""

    script: str
    env: dict[str, str]

    def run(self, command: str) -> None:
        """``scripts/services/SCRIPT COMMAND``; raises with its output if it fails."""
        done = subprocess.run(
            ["bash", str(SERVICES / self.script), command],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.script} {command} failed: {done.stderr[-2000:]}")


def function_pids(markers: Path) -> list[int]:
    """Function processes with an attempt in flight (the actions leave their pid in ``markers``)."""
    pids = []
    for path in markers.iterdir():
        try:
            pid = int(path.name)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError):
            continue
        if b"knflow" in cmdline or b"python" in cmdline:
            pids.append(pid)
    return pids

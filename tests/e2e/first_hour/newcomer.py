"""A newcomer's shell: a fresh folder, the ``knflow`` command on ``PATH``, no ``KNFLOW_*`` variable.

``knflow dev`` runs as a person starts it (no ``--state-dir``; on port 8080 unless a test says
otherwise) and commands run through ``bash`` exactly as written in the docs. Port 8080 is shared by
every checkout on this machine: a test on it holds ``/tmp/knflow-port-8080.lock`` (``default_port``).
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[3]
DEFAULT_PORT = 8080
PORT_LOCK = Path("/tmp/knflow-port-8080.lock")
#: A run id as the control plane makes them: 12 hex digits of milliseconds, 16 random ones.
RUN_ID = re.compile(r"\b[0-9a-f]{28}\b")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def newcomer_env() -> dict[str, str]:
    """This process's environment without any ``KNFLOW_*`` variable, with ``knflow`` first on ``PATH``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNFLOW_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "80"  # a plain terminal's width; rich reads it
    return env


@contextmanager
def default_port() -> Iterator[None]:
    """Hold port 8080 for this test against the other checkouts' tests (waits for them)."""
    with PORT_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class Dev:
    """One ``knflow dev`` started in ``folder`` (``--port`` only when not the default), its stdout and
    stderr kept in files beside it."""

    folder: Path
    port: int = DEFAULT_PORT
    process: subprocess.Popen[bytes] | None = None

    @property
    def args(self) -> list[str]:
        return [] if self.port == DEFAULT_PORT else ["--port", str(self.port)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Dev:
        """Start it and wait until it says where it listens (and that address answers); stopped again
        if it does not, so a failed start leaves no process behind."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> Dev:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._file("out").open("wb") as out, self._file("err").open("wb") as err:
            self.process = subprocess.Popen(
                ["knflow", "dev", *self.args], cwd=self.folder, env=newcomer_env(), stdout=out, stderr=err
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError(f"knflow dev exited with {self.process.returncode}: {self.stderr()[-3000:]}")
            if "listening on" in self.stdout():
                assert httpx.get(f"{self.url}/health/readiness", timeout=5).status_code == 200
                return self
            time.sleep(0.05)
        raise AssertionError(f"knflow dev did not say it listens: {self.stdout()} {self.stderr()[-3000:]}")

    def stdout(self) -> str:
        return self._file("out").read_text(errors="replace")

    def stderr(self) -> str:
        return self._file("err").read_text(errors="replace")

    def interrupt(self) -> None:
        """What Ctrl-C in its terminal sends it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Stop it if it still runs (a test's clean-up): SIGINT twice, SIGKILL as the last resort."""
        if self.process is None or self.process.poll() is not None:
            return
        for _ in range(2):
            self.interrupt()
            time.sleep(0.2)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def _file(self, stream: str) -> Path:
        return self.folder.parent / f"{self.folder.name}-knflow-dev-{self.port}.{stream}"


def shell(command: str, folder: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``command`` run by bash in ``folder``, as a person types it."""
    return subprocess.run(
        ["bash", "-c", command],
        cwd=folder,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def crashed(output: str) -> bool:
    """Whether a Python process crashed in ``output``: a traceback from column 0 (one a failed step shows
    of the user's code is indented under its error, and one a log line carries sits inside its JSON)."""
    return re.search(r"^Traceback \(most recent call last\):", output, re.MULTILINE) is not None


def wait_until(predicate: object, timeout: float, what: str) -> None:
    """Poll ``predicate()`` until it is true."""
    assert callable(predicate)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")

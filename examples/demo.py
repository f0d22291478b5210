"""`make demo`: start the embedded control plane, deploy examples/, trigger one over HTTP, print the run."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from knflow._loader import load_file
from knflow.client import Client

HERE = Path(__file__).resolve().parent


def wait_ready(client: Client, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if process.poll() is not None:
            sys.exit(f"the control plane exited with {process.returncode}")
        try:
            if client.health():
                return
        except Exception:  # noqa: BLE001 (not listening yet)
            pass
        time.sleep(0.1)
    sys.exit("the control plane did not become ready")


def show_run(client: Client, url: str, label: str) -> None:
    """Trigger the pipeline over HTTP and print the finished run with per-step timings."""
    started = time.perf_counter()
    reply = httpx.post(f"{url}/hooks/pipeline", json={"text": "to be or not to be, that is the question"}, timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"\n{label}\nPOST /hooks/pipeline -> HTTP {reply.status_code} in {elapsed:.0f} ms: {reply.json()}")
    run = client.get_run(reply.headers["x-knflow-run-id"])
    print(f"run {run.id}  {run.status}  {run.duration_ms or 0:.1f} ms")
    for step in run.steps:
        for attempt in step.attempts:
            logs = attempt.logs.strip().replace("\n", " | ")
            print(
                f"  {step.name:10} attempt {attempt.number}  {attempt.status:9} "
                f"{attempt.duration_ms or 0:8.1f} ms  {logs}"
            )


def free_port(wanted: int) -> int:
    """``wanted`` if nothing listens on it, else a free port: the demo never talks to a control plane
    it did not start (one on that port may hold other workflows, other code, another state dir)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", wanted))
            return wanted
        except OSError:
            pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    print(f"port {wanted} is taken (another knflow dev?): the demo starts its own control plane on port {port}")
    return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    port = free_port(args.port)
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, KNFLOW_PORT=str(port), KNFLOW_STATE_DIR=str(Path(".knflow").resolve()))
    server = subprocess.Popen([sys.executable, "-m", "knflow_control_plane.entrypoints.server"], env=env)
    client = Client(url)
    try:
        wait_ready(client, server)
        if server.poll() is not None:  # it could not listen: whatever answered is not ours
            sys.exit(f"the control plane exited with {server.returncode}")
        print(f"control plane ready at {url}")
        for example in ("pipeline.py", "fanin.py", "lookup.py", "flaky.py"):
            project = load_file(HERE / example)
            for spec in project.workflows.values():
                client.register_workflow(spec, project.files)
                deployment = client.deploy(spec.name)
                print(f"deployed {spec.name:10} version {deployment.version}  status {deployment.status}")
        for label in ("first call: each function starts (cold)", "second call: functions warm"):
            show_run(client, url, label)
        print("\nthe demo's control plane stops now; start your own with `knflow dev` (see the README)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

"""`make demo`: start the embedded control plane, deploy examples/, trigger one over HTTP, print the run."""

from __future__ import annotations

import argparse
import os
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    env = dict(os.environ, KNFLOW_PORT=str(args.port), KNFLOW_STATE_DIR=str(Path(".knflow").resolve()))
    server = subprocess.Popen([sys.executable, "-m", "knflow_control_plane.entrypoints.server"], env=env)
    client = Client(url)
    try:
        wait_ready(client, server)
        print(f"control plane ready at {url}")
        for example in ("pipeline.py", "fanin.py", "lookup.py", "flaky.py"):
            project = load_file(HERE / example)
            for spec in project.workflows.values():
                client.register_workflow(spec, project.files)
                deployment = client.deploy(spec.name)
                print(f"deployed {spec.name:10} version {deployment.version}  status {deployment.status}")
        for label in ("first call: each function starts (cold)", "second call: functions warm"):
            show_run(client, url, label)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

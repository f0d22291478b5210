"""Trigger to first step start over HTTP (scenario 3 of issue #8), on the embedded stack.

    .venv/bin/python bench/trigger_bench.py [--quick] [--json rows.json]

A ``knflow dev`` process (SQLite, local functions) serves ``/hooks/first``; a one-step workflow's action
returns ``time.time()`` as it starts, and the hook replies with that result. Latency = that time minus the
moment the request was sent (one clock: same machine). The request goes over a raw keep-alive socket so
that client work stays out of the number. Floor: one raw invoke of the warm function plus one raw commit,
and the HTTP hop to the control plane itself (``GET /health/liveness``).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import PeakRss, RawHttp, arguments, emit, p50_p99, raw_invoke_ms, row, sqlite_tx_ms

BIN = Path(sys.executable).parent
FLOW = """
import time

from knflow import action, http_trigger, workflow


@action(concurrency=16)
async def first() -> float:
    return time.time()


@workflow(triggers=[http_trigger(path="/first", method="POST", timeout="30s")])
def hooked():
    return first()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(state: Path, port: int) -> subprocess.Popen[bytes]:
    log = (state / "control-plane.log").open("ab")
    env = {**os.environ, "KNFLOW_IDLE_TIMEOUT": "600"}
    command = [str(BIN / "knflow"), "dev", "--port", str(port), "--state-dir", str(state / ".knflow")]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=state)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"knflow dev exited: {(state / 'control-plane.log').read_text()[-2000:]}")
        try:
            client = RawHttp("127.0.0.1", port)
            status, _ = client.roundtrip(b"GET /health/readiness HTTP/1.1\r\nhost: b\r\n\r\n")
            client.close()
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("knflow dev did not become ready")


def _hook(client: RawHttp) -> float:
    request = b"POST /hooks/first HTTP/1.1\r\nhost: b\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    sent = time.time()
    status, body = client.roundtrip(request)
    assert status == 200, (status, body)
    return (float(json.loads(body)) - sent) * 1000


def _timed(client: RawHttp, request: bytes, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        client.roundtrip(request)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    args = arguments(__doc__, stores="sqlite")
    samples = 100 if args.quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        (state / "flows.py").write_text(FLOW)
        port = _free_port()
        process = _start(state, port)
        try:
            env = {**os.environ, "KNFLOW_URL": f"http://127.0.0.1:{port}"}
            subprocess.run([str(BIN / "knflow"), "deploy", str(state / "flows.py")], env=env, check=True, cwd=state)
            client = RawHttp("127.0.0.1", port)
            for _ in range(20):  # cold start, then warm everything
                _hook(client)
            rss = PeakRss(process.pid)
            rss.reset()
            latencies = [_hook(client) for _ in range(samples)]
            peak = rss.peak_mb()
            hop = statistics.median(_timed(client, b"GET /health/liveness HTTP/1.1\r\nhost: b\r\n\r\n", samples))
            client.close()
            fn = _function_url(state)
            invoke = statistics.median(raw_invoke_ms(fn, samples)) if fn else float("nan")
            commit = statistics.median(sqlite_tx_ms(str(state / ".knflow" / "knflow.db"), samples))
        finally:
            process.terminate()
            process.wait(30)
    floor = hop + invoke + commit
    stats = p50_p99(latencies)
    emit(
        [
            row(
                "floor: HTTP hop + raw invoke + raw commit",
                "sqlite",
                p50_ms=floor,
                detail=f"hop {hop:.3f} + invoke {invoke:.3f} + commit {commit:.3f} ms",
            ),
            row(
                "3 HTTP trigger -> first step start",
                "sqlite",
                **stats,
                peak_rss_mb=peak,
                ratio_to_floor=stats["p50_ms"] / floor,
                target="p50<=3 p99<=15",
                met=stats["p50_ms"] <= 3 and stats["p99_ms"] <= 15,
                detail=f"{samples} hooks, one at a time; peak RSS of the knflow dev process",
            ),
        ],
        args.json,
    )


def _function_url(state: Path) -> str | None:
    """The warm instance's URL, from the runtime's ready line in its log."""
    import re

    for log in (state / ".knflow" / "functions" / "logs").glob("first*.log"):
        ports = re.findall(r"port=(\d+)", log.read_text())
        if ports:
            return f"http://127.0.0.1:{ports[-1]}"
    return None


if __name__ == "__main__":
    main()

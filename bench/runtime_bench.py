"""Benchmark of the function runtime: cold start and per-invoke overhead over loopback.

    .venv/bin/python bench/runtime_bench.py [--quick] [--json bench/results/runtime.json]

Cold start: process spawn -> ``GET /health/readiness`` answers 200 (and -> first invoke answered),
for a no-op action configured by variables (as a container and the local backend start it), with and
without a bytecode cache (this environment sets PYTHONDONTWRITEBYTECODE, so by default every start
compiles every module from source; an image built with ``uv sync --compile-bytecode`` ships the cache).
Invoke overhead: round trips of a keep-alive raw-socket client against a no-op action (async and sync),
and the server's CPU per request read from ``/proc/<pid>/stat``. Where the time goes: ``python -X
importtime`` of the start, top-level. uvicorn (with httptools, a bare ASGI app) is measured the same way
for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from knflow.wire import InvokeData
from knflow_runtime.contract import encode_invoke

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import RawHttp

ACTIONS = """
from knflow import action


@action(concurrency=4)
async def noop_async() -> None:
    return None


@action(concurrency=4)
def noop_sync() -> None:
    return None
"""
ASGI_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"19")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"status": "alive"}'})
"""
READY = re.compile(rb"knflow-runtime ready .* port=(\d+)")
UVICORN_READY = re.compile(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)")
LIVENESS = b"GET /health/liveness HTTP/1.1\r\nhost: bench\r\n\r\n"
READINESS = b"GET /health/readiness HTTP/1.1\r\nhost: bench\r\n\r\n"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": _ms(statistics.median(ordered)), "p99_ms": _ms(p99), "min_ms": _ms(ordered[0]), "n": len(ordered)}


def _env(bytecode_cache: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNFLOW_") and k not in ("PORT", "K_SERVICE")}
    if bytecode_cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return env


def _runtime(code: Path, action: str, env: dict[str, str], *extra: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment of a runtime serving ``action``, configured by its variables as a
    container (and the local backend) starts it."""
    variables = {"KNFLOW_ACTION": f"bench_actions:{action}", "KNFLOW_CODE_PATH": str(code), "PORT": "0"}
    return [sys.executable, *extra, "-m", "knflow_runtime"], {**env, **variables}


def _invoke_requests(count: int) -> list[bytes]:
    deadline = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    run = f"bench{time.time_ns()}"
    requests = []
    for attempt in range(1, count + 1):  # distinct ce-ids: a repeated one would be served from the cache
        data = cast("InvokeData", {"inputs": {}, "deadline": deadline})
        headers, body = encode_invoke(run, "noop", attempt, data)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests.append(f"POST / HTTP/1.1\r\nhost: b\r\n{head}content-length: {len(body)}\r\n\r\n".encode() + body)
    return requests


def _start(command: list[str], env: dict[str, str], ready: re.Pattern[bytes]) -> tuple[subprocess.Popen[bytes], int]:
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert process.stderr is not None
    for line in process.stderr:
        match = ready.search(line)
        if match:
            return process, int(match.group(1))
    raise RuntimeError(f"{command} exited with {process.wait()}")


def _stop(process: subprocess.Popen[Any]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr is not None:
        process.stderr.close()


def cold_start(command: list[str], env: dict[str, str], runs: int, ready: re.Pattern[bytes]) -> dict[str, Any]:
    """Spawn -> readiness 200 and spawn -> first invoke answered, ``runs`` times."""
    to_ready, to_first = [], []
    is_runtime = ready is READY
    for _ in range(runs):
        request = _invoke_requests(1)[0] if is_runtime else LIVENESS
        started = time.perf_counter()
        process, port = _start(command, env, ready)
        try:
            client = RawHttp("127.0.0.1", port)
            status, _ = client.roundtrip(READINESS if is_runtime else LIVENESS)
            to_ready.append(time.perf_counter() - started)
            assert status == 200
            assert client.roundtrip(request)[0] == 200
            to_first.append(time.perf_counter() - started)
            client.close()
        finally:
            _stop(process)
    return {"ready": _summary(to_ready), "first_invoke": _summary(to_first)}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def overhead(targets: dict[str, tuple[int, int, list[bytes]]], warmup: int, block: int = 100) -> dict[str, Any]:
    """Round trips per target (``name -> (port, server pid, requests)``), each over one keep-alive connection.

    The targets take turns, ``block`` requests at a time, so that a noisy neighbour (this VM has some)
    weighs on all of them alike instead of on whichever ran during the noise.
    """
    clients = {name: RawHttp("127.0.0.1", port) for name, (port, _, _) in targets.items()}
    samples: dict[str, list[float]] = {name: [] for name in targets}
    cpu = dict.fromkeys(targets, 0.0)
    for name, (_, _, requests) in targets.items():
        for request in requests[:warmup]:
            clients[name].roundtrip(request)
    rounds = max(len(requests) for _, _, requests in targets.values()) - warmup
    for start in range(warmup, warmup + rounds, block):
        for name, (_, pid, requests) in targets.items():
            before = _cpu_seconds(pid)
            for request in requests[start : start + block]:
                started = time.perf_counter()
                status, _ = clients[name].roundtrip(request)
                samples[name].append(time.perf_counter() - started)
                assert status == 200, (name, status)
            cpu[name] += _cpu_seconds(pid) - before
    for client in clients.values():
        client.close()
    return {
        name: {**_summary(samples[name]), "server_cpu_us_per_request": round(cpu[name] / len(samples[name]) * 1e6, 1)}
        for name in targets
    }


def import_breakdown(code: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    """Milliseconds spent importing each top-level package on the way to ready (``-X importtime`` self times)."""
    command, variables = _runtime(code, "noop_async", env, "-X", "importtime")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, env=variables, text=True)
    assert process.stderr is not None
    totals: dict[str, float] = {}
    for line in process.stderr:
        if "knflow-runtime ready" in line:
            break
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| (.*)$", line)
        if match:
            name = match.group(2).strip().split(".")[0]
            totals[name] = totals.get(name, 0.0) + int(match.group(1)) / 1000
    _stop(process)
    top = sorted(totals.items(), key=lambda item: -item[1])
    return [(name, round(ms, 1)) for name, ms in top[:12]] + [("all", round(sum(totals.values()), 1))]


def run(quick: bool) -> dict[str, Any]:
    """All measurements; returned as one JSON-ready dict."""
    starts, invokes, warmup = (5, 500, 100) if quick else (20, 2000, 300)
    results: dict[str, Any] = {"python": sys.version.split()[0], "quick": quick, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="knflow-bench-") as folder:
        code, cache = Path(folder), Path(folder) / "pycache"
        (code / "bench_actions.py").write_text(ACTIONS)
        (code / "bench_asgi.py").write_text(ASGI_APP)
        warm, cold = _env(cache), _env(None)
        command, warm_noop = _runtime(code, "noop_async", warm)
        cold_start(command, warm_noop, 1, READY)  # fills the bytecode cache
        results["floor_python_ms"] = _summary([_timed([sys.executable, "-c", "pass"], warm) for _ in range(starts)])
        results["floor_asyncio_ms"] = _summary(
            [_timed([sys.executable, "-c", "import asyncio"], warm) for _ in range(starts)]
        )
        results["cold_start_bytecode_cache"] = cold_start(command, warm_noop, starts, READY)
        cold_noop = _runtime(code, "noop_async", cold)[1]
        results["cold_start_no_bytecode_cache"] = cold_start(command, cold_noop, max(3, starts // 4), READY)
        results["import_breakdown_ms"] = import_breakdown(code, warm)
        uvicorn = [sys.executable, "-m", "uvicorn", "bench_asgi:app", "--app-dir", str(code), "--port", "0"]
        uvicorn += ["--http", "httptools", "--loop", "asyncio", "--log-level", "info", "--no-access-log"]
        cold_start(uvicorn, warm, 1, UVICORN_READY)
        results["uvicorn_cold_start"] = cold_start(uvicorn, warm, max(3, starts // 2), UVICORN_READY)["ready"]
        servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        try:
            servers["noop_async"] = _start(*_runtime(code, "noop_async", warm), READY)
            servers["noop_sync"] = _start(*_runtime(code, "noop_sync", warm), READY)
            servers["uvicorn"] = _start(uvicorn, warm, UVICORN_READY)
            count = invokes + warmup
            (async_process, async_port), (sync_process, sync_port) = servers["noop_async"], servers["noop_sync"]
            uvicorn_process, uvicorn_port = servers["uvicorn"]
            targets = {
                "invoke_noop_async": (async_port, async_process.pid, _invoke_requests(count)),
                "invoke_noop_sync": (sync_port, sync_process.pid, _invoke_requests(count)),
                "http_liveness": (async_port, async_process.pid, [LIVENESS] * count),
                "uvicorn_http_liveness": (uvicorn_port, uvicorn_process.pid, [LIVENESS] * count),
            }
            results.update(overhead(targets, warmup))
        finally:
            for process, _ in servers.values():
                _stop(process)
    return results


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True)
    return time.perf_counter() - started


def print_table(results: dict[str, Any]) -> None:
    """The results as a plain-text table."""
    print(f"knflow-runtime bench (python {results['python']}, {results['cpus']} CPUs, quick={results['quick']})")
    print(f"{'measurement':56} {'p50 ms':>9} {'p99 ms':>9} {'n':>6} {'server CPU/req':>15}")
    rows = [
        ("python -c pass (floor)", results["floor_python_ms"]),
        ("python -c 'import asyncio' (floor)", results["floor_asyncio_ms"]),
        ("cold start -> ready (bytecode cache)", results["cold_start_bytecode_cache"]["ready"]),
        ("cold start -> first invoke (bytecode cache)", results["cold_start_bytecode_cache"]["first_invoke"]),
        ("cold start -> ready (no bytecode cache, env default)", results["cold_start_no_bytecode_cache"]["ready"]),
        ("uvicorn+httptools bare ASGI app -> ready", results["uvicorn_cold_start"]),
        ("invoke round trip, async no-op", results["invoke_noop_async"]),
        ("invoke round trip, sync no-op (worker thread)", results["invoke_noop_sync"]),
        ("GET /health/liveness round trip (HTTP layer only)", results["http_liveness"]),
        ("uvicorn bare ASGI GET round trip", results["uvicorn_http_liveness"]),
    ]
    for name, row in rows:
        cpu = row.get("server_cpu_us_per_request")
        cpu_text = f"{cpu:.0f} us" if cpu is not None else ""
        print(f"{name:56} {row['p50_ms']:>9.3f} {row['p99_ms']:>9.3f} {row['n']:>6} {cpu_text:>15}")
    print("imports on the way to ready (ms of import work per top-level package, -X importtime):")
    print("  " + ", ".join(f"{name} {ms}" for name, ms in results["import_breakdown_ms"]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run, print the table, optionally write JSON; return the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs (< 30 s)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    results = run(args.quick)
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()

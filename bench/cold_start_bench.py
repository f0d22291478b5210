"""Cold starts and warm invokes of the local backend, measured with real ``knflow_runtime`` processes.

    .venv/bin/python bench/cold_start_bench.py [--quick] [--runs N] [--invokes N] [--json rows.json]

Cold start: from ``invoke()`` on a function with no instance to its reply, medians over ``--runs``
cold starts, for plain spawn (``python -m knflow_runtime``) and for the fork server, of an action
without requirements (the control plane's interpreter) and of one with a requirement (its own venv,
built offline from a tiny wheel made here; the fork server is then the venv's zygote). The zygotes'
resident memory is read from ``/proc`` once they have forked. Warm invoke: a
no-op action called ``--invokes`` times in a row through the backend, then the same request sent with
``httpx.AsyncClient`` to the same instance, to compare the backend's HTTP client with httpx.
Scenario 4 of issue #8; its floor is the interpreter's own start (``python -c pass``), measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import emit, p50_p99, row

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.local.backend import LocalBackend
from knflow_control_plane.adapters.local.venv import VenvBuilder
from knflow_control_plane.ports import Artifact, CodeBundle, HttpRequest

CODE = CodeBundle(
    files={
        "bench_actions.py": b"def noop(**inputs):\n    return {}\n",
        "bench_venv_actions.py": b"import knflow_bench_dep\n\n\ndef noop(**inputs):\n    return {}\n",
    },
    digest="cold-start-bench",
)
HEADERS = {
    "ce-specversion": "1.0",
    "ce-type": "dev.knflow.step.invoke",
    "ce-source": "/runs/bench",
    "ce-subject": "s",
    "content-type": "application/json",
}
BODY = b'{"inputs": {}, "deadline": "2999-01-01T00:00:00Z"}'
_ids = iter(range(10**9))


def request() -> HttpRequest:
    """A new invoke attempt (the runtime caches replies by ``ce-id``)."""
    return HttpRequest(headers={**HEADERS, "ce-id": f"bench/s/{next(_ids)}"}, body=BODY)


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name:<22}{statistics.median(ms):>9.2f}{p90:>9.2f}{ms[0]:>9.2f}{ms[-1]:>9.2f}{len(ms):>6}"


async def cold_starts(
    root: Path, artifact: Artifact, *, fork: bool, runs: int, entrypoint: str = "bench_actions:noop"
) -> tuple[list[float], dict[str, float]]:
    """Cold start times, and the zygote's memory (``rss_mb``, ``anon_mb``: its own pages) when forking."""
    backend = LocalBackend(root / f"{entrypoint}-{'fork' if fork else 'spawn'}", fork_server=fork)
    try:
        times = []
        for n in range(runs + 1):
            action = ActionSpec(name="noop", version=f"v{n}", entrypoint=entrypoint)
            await backend.deploy(action, artifact)
            started = time.perf_counter()
            reply = await backend.invoke("noop", f"v{n}", request(), timeout=60)
            elapsed = time.perf_counter() - started
            assert reply.status == 200, reply.body
            await backend.undeploy("noop", f"v{n}")
            if n:  # the first one also waits for the fork server to import everything
                times.append(elapsed)
        expected = runs + 1 if fork else 0
        assert backend.stats()["cold_starts_forked"] == expected, backend.stats()
        pids = backend.zygotes.pids() if backend.zygotes is not None else {}
        assert list(pids) == ([artifact.location] if fork else []), pids
        return times, {k: v for pid in pids.values() for k, v in _memory_mb(pid).items()}
    finally:
        await backend.close()


def _memory_mb(pid: int) -> dict[str, float]:
    kb = dict(re.findall(r"^(VmRSS|RssAnon):\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE))
    return {"rss_mb": int(kb["VmRSS"]) / 1024, "anon_mb": int(kb["RssAnon"]) / 1024}


def tiny_wheel(folder: Path) -> Path:
    """A one-module wheel written here, so that a venv build downloads nothing."""
    name, version = "knflow_bench_dep", "0.1"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"VALUE = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: knflow-bench-dep\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: knflow-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={_digest(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


async def timed(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def warm_invokes(root: Path, artifact: Artifact, count: int) -> tuple[list[float], list[float]]:
    backend = LocalBackend(root / "warm")
    try:
        await backend.deploy(ActionSpec(name="noop", version="w", entrypoint="bench_actions:noop"), artifact)
        await backend.invoke("noop", "w", request(), timeout=60)
        url = (await backend.status("noop", "w")).url
        assert url is not None
        ours = await timed(lambda: backend.invoke("noop", "w", request(), timeout=60), count)
        async with httpx.AsyncClient() as client:

            async def with_httpx() -> None:
                r = request()
                reply = await client.post(url + "/", headers=r.headers, content=r.body)
                assert json.loads(reply.content)["outputs"] == {}

            theirs = await timed(with_httpx, count)
        return ours, theirs
    finally:
        await backend.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 cold starts and 300 invokes (under 30 s)")
    parser.add_argument("--runs", type=int, default=20, help="cold starts per mode")
    parser.add_argument("--invokes", type=int, default=2000, help="warm invokes per client")
    parser.add_argument("--json", type=Path, help="write the summary rows here")
    parser.add_argument("--stores", help="ignored: no store is involved")
    args = parser.parse_args()
    runs, invokes = (8, 300) if args.quick else (args.runs, args.invokes)
    interpreter = [_spawn_seconds() for _ in range(runs)]
    os.environ["UV_OFFLINE"] = "1"  # the venv's one requirement is a wheel file made below
    with tempfile.TemporaryDirectory(prefix="knflow-bench-") as tmp:
        root = Path(tmp)
        builder = VenvBuilder(root / "builds")
        action = ActionSpec(name="noop", version="v0", entrypoint="bench_actions:noop")
        artifact = (await builder.build(action, CODE)).artifact
        with_dep = action.model_copy(update={"options": {"requirements": [str(tiny_wheel(root))]}})
        venv = (await builder.build(with_dep, CODE)).artifact
        venv_noop = "bench_venv_actions:noop"
        results = {
            "spawn": await cold_starts(root, artifact, fork=False, runs=runs),
            "fork server": await cold_starts(root, artifact, fork=True, runs=runs),
            "venv, spawn": await cold_starts(root, venv, fork=False, runs=runs, entrypoint=venv_noop),
            "venv, fork server": await cold_starts(root, venv, fork=True, runs=runs, entrypoint=venv_noop),
        }
        ours, theirs = await warm_invokes(root, artifact, invokes)
    header = f"{'':<22}{'p50 ms':>9}{'p90 ms':>9}{'min ms':>9}{'max ms':>9}{'n':>6}"
    print("cold start: invoke() on a function scaled to zero -> reply")
    print(header)
    for name, (seconds, _memory) in results.items():
        print(summary(name, seconds))
    for name, (_seconds, memory) in results.items():
        if memory:
            print(f"zygote of '{name}': RSS {memory['rss_mb']:.1f} MB, of which anonymous {memory['anon_mb']:.1f} MB")
    print("\nwarm invoke of a no-op action, sequential (runtime included)")
    print(header)
    print(summary("backend (raw asyncio)", ours))
    print(summary("httpx.AsyncClient", theirs))
    if args.json:
        emit(_rows(interpreter, results), args.json)


def _spawn_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


#: p50 targets of the cold start rows, ms (an action with requirements: p50 <= 100 either way)
TARGETS = {"spawn": 100.0, "fork server": 50.0, "venv, spawn": 100.0, "venv, fork server": 100.0}


def _rows(interpreter: list[float], results: dict[str, tuple[list[float], dict[str, float]]]) -> list[dict[str, Any]]:
    floor = statistics.median(interpreter) * 1000
    rows = [row("floor: python -c pass", "-", p50_ms=floor)]
    for name, (seconds, memory) in results.items():
        stats = p50_p99([s * 1000 for s in seconds])
        detail = f"invoke() on a function scaled to zero -> reply; {len(seconds)} starts"
        if memory:
            detail += f"; RSS is the zygote's ({memory['anon_mb']:.1f} MB anonymous)"
        rows.append(
            row(
                f"4 cold start, {name}",
                "-",
                **stats,
                peak_rss_mb=memory.get("rss_mb"),
                ratio_to_floor=stats["p50_ms"] / floor,
                target=f"p50<={TARGETS[name]:.0f}",
                met=stats["p50_ms"] <= TARGETS[name],
                detail=detail,
            )
        )
    return rows


if __name__ == "__main__":
    asyncio.run(main())

"""Runs waiting on ``wait_for_event``: the control plane's memory, and an event's resume latency (issue 24).

    .venv/bin/python bench/event_waits_bench.py [--quick] [--json rows.json]

A ``knflow dev`` process (SQLite, the embedded stack) runs a workflow whose one step waits for a
``bench.paid`` CloudEvent matching its run's ``order``. 10,000 runs (1,000 in ``--quick``) are started
through ``POST /v1/runs`` and left waiting: the control plane's RSS growth from before the first run to
all of them waiting (target <= 50 MB: a waiting step is a row, nothing in memory). Then events are posted
one at a time (``POST /v1/events``, each for another waiting run); the resume latency is the step's stored
``finished_at`` minus the moment the event was sent (one clock: the same machine), target p50 <= 5 ms.
The floor: the same POST of an event no step waits for (its one indexed lookup, the HTTP hop, the bus).
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import PeakRss, RawHttp, arguments, emit, p50_p99, row
from bench.trigger_bench import _free_port, _start

BIN = Path(sys.executable).parent
FLOW = """
from knflow import wait_for_event, workflow


@workflow
def waiter(order: str):
    paid = wait_for_event("bench.paid", match={"order": order}, timeout="1d", name="paid")
    return paid["event"]
"""


def _post(client: RawHttp, path: str, body: bytes, headers: str = "content-type: application/json\r\n") -> bytes:
    request = f"POST {path} HTTP/1.1\r\nhost: b\r\n{headers}content-length: {len(body)}\r\n\r\n".encode()
    status, reply = client.roundtrip(request + body)
    assert status in (200, 201, 202), (status, reply)
    return reply


def _event(client: RawHttp, order: str, event_id: str) -> None:
    headers = (
        f"ce-specversion: 1.0\r\nce-id: {event_id}\r\nce-source: /bench\r\nce-type: bench.paid\r\n"
        "content-type: application/json\r\n"
    )
    _post(client, "/v1/events", json.dumps({"order": order}).encode(), headers)


def _start_runs(client: RawHttp, count: int) -> dict[str, str]:
    """Start ``count`` runs (order ``o{i}``); their ids by order."""
    ids = {}
    for i in range(count):
        body = json.dumps({"workflow": "waiter", "inputs": {"order": f"o{i}"}}).encode()
        ids[f"o{i}"] = json.loads(_post(client, "/v1/runs", body))["id"]
    return ids


def _waiting(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM steps WHERE status = 'waiting'").fetchone()[0])


def _finished(db: Path, run_ids: list[str]) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f"SELECT run_id, finished_at FROM steps WHERE name = 'paid' AND run_id IN ({','.join('?' * len(run_ids))})",
            run_ids,
        ).fetchall()
    return {run_id: at for run_id, at in rows if at is not None}


def main() -> None:
    args = arguments(__doc__, stores="sqlite")
    count, samples = (1000, 200) if args.quick else (10_000, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        (state / "flows.py").write_text(FLOW)
        port = _free_port()
        process = _start(state, port)
        db = state / ".knflow" / "knflow.db"
        try:
            env = {**os.environ, "KNFLOW_URL": f"http://127.0.0.1:{port}"}
            subprocess.run([str(BIN / "knflow"), "deploy", "flows.py"], env=env, check=True, cwd=state)
            client = RawHttp("127.0.0.1", port)
            warm = _start_runs(client, 50)  # warm every path once, then measure from here
            for i, order in enumerate(warm):
                _event(client, order, f"warm-{i}")
            time.sleep(1.0)
            rss = PeakRss(process.pid)
            before = rss.current_mb()
            started = time.perf_counter()
            ids = _start_runs(client, count)
            while _waiting(db) < count:
                time.sleep(0.2)
            rate = count / (time.perf_counter() - started)
            time.sleep(2.0)  # the poll's sweep settles
            after = rss.current_mb()
            sent: dict[str, float] = {}
            posts = []
            for i in range(samples):
                order = f"o{i}"
                sent[ids[order]] = time.time()
                begun = time.perf_counter()
                _event(client, order, f"e-{i}")
                posts.append((time.perf_counter() - begun) * 1000)
            floor = []
            for i in range(samples):
                begun = time.perf_counter()
                _event(client, f"nobody-{i}", f"n-{i}")
                floor.append((time.perf_counter() - begun) * 1000)
            time.sleep(1.0)
            done = _finished(db, list(sent))
            client.close()
        finally:
            process.terminate()
            process.wait(30)
    resumed = [(done[run_id] - at) * 1000 for run_id, at in sent.items() if run_id in done]
    growth = after - before
    stats = p50_p99(resumed)
    emit(
        [
            row(
                "floor: POST of an event nobody waits for",
                "sqlite",
                **p50_p99(floor),
                detail="one indexed lookup of its type's wait shapes, the bus, the HTTP hop",
            ),
            row(
                f"event waits: {count} runs waiting, RSS",
                "sqlite",
                peak_rss_mb=after,
                throughput=rate,
                unit="runs/s",
                target="RSS growth<=50 MB",
                met=growth <= 50,
                detail=f"RSS {before:.0f} MB before the runs, {after:.0f} MB with {count} waiting: +{growth:.1f} MB",
            ),
            row(
                "event waits: event -> its run resumed",
                "sqlite",
                **stats,
                ratio_to_floor=stats["p50_ms"] / statistics.median(floor),
                target="p50<=5",
                met=stats["p50_ms"] <= 5 and len(resumed) == samples,
                detail=(
                    f"{len(resumed)}/{samples} resumed among {count} waiting; the POST's round trip "
                    f"p50 {statistics.median(posts):.2f} ms"
                ),
            ),
        ],
        args.json,
    )


if __name__ == "__main__":
    main()

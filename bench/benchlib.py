"""What every benchmark shares: percentiles, peak RSS, the result row, the command line and the floor.

A benchmark is a script that takes ``--quick``, ``--stores`` and ``--json PATH`` and writes a list of
rows (:func:`row`) to ``PATH``; ``bench/run.py`` prints them as one table.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def p50_p99(values_ms: list[float]) -> dict[str, float]:
    """Median and p99 of samples in milliseconds."""
    return {"p50_ms": statistics.median(values_ms), "p99_ms": pct(values_ms, 0.99)}


class PeakRss:
    """Peak resident memory of a process between :meth:`reset` and :meth:`peak_mb` (Linux ``VmHWM``).

    Writing 5 to ``/proc/<pid>/clear_refs`` resets the high-water mark, so one process can report the
    peak of each scenario it runs in turn.
    """

    def __init__(self, pid: int | str = "self"):
        self.pid = pid

    def _status(self, field: str) -> float:
        text = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(rf"{field}:\s+(\d+) kB", text)
        return int(match.group(1)) / 1024 if match else 0.0

    def reset(self) -> float:
        """Reset the peak; returns the current RSS in MB."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        return self.current_mb()

    def current_mb(self) -> float:
        """Resident memory now, MB."""
        return self._status("VmRSS")

    def peak_mb(self) -> float:
        """The peak since the last :meth:`reset`, MB."""
        return self._status("VmHWM")


def row(scenario: str, store: str, **fields: Any) -> dict[str, Any]:
    """One line of the summary table.

    Fields (all optional): ``p50_ms``, ``p99_ms``, ``throughput`` with ``unit``, ``peak_rss_mb``,
    ``ratio_to_floor``, ``target`` (text), ``met`` (bool), ``detail`` (text).
    """
    return {"scenario": scenario, "store": store, **{k: v for k, v in fields.items() if v is not None}}


def arguments(doc: str | None, stores: str = "sqlite,postgres") -> argparse.Namespace:
    """The command line every benchmark takes."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--stores", default=stores, help="comma-separated: sqlite,postgres")
    parser.add_argument("--json", type=Path, help="write the rows here (else print them)")
    parser.add_argument("--scenarios", default="", help="comma-separated subset to run (default: all)")
    return parser.parse_args()


def emit(rows: list[dict[str, Any]], path: Path | None) -> None:
    """Write the rows as JSON to ``path`` or stdout."""
    text = json.dumps(rows, indent=1)
    if path is None:
        print(text)
    else:
        path.write_text(text)


# -- the physical floor: one raw loopback invoke plus one raw driver transaction -------------------
class RawHttp:
    """A keep-alive HTTP/1.1 client on a blocking socket: the least client work Python allows."""

    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        """Send one request, read one reply (status, body)."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        length = int(match.group(1)) if match else 0
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return int(head[9:12]), rest[:length]

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


def raw_invoke_ms(url: str, samples: int) -> list[float]:
    """Round trips of a warm no-op function's invoke, over a raw keep-alive socket (no backend code)."""
    from knflow_runtime.contract import encode_invoke

    host, port = url.removeprefix("http://").rsplit(":", 1)
    client = RawHttp(host, int(port))
    times = []
    try:
        for attempt in range(1, samples + 1):
            deadline = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
            headers, body = encode_invoke("floor", "s", attempt, {"inputs": {}, "deadline": deadline})
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            request = f"POST / HTTP/1.1\r\nhost: {host}\r\n{head}content-length: {len(body)}\r\n\r\n".encode() + body
            started = time.perf_counter()
            status, _ = client.roundtrip(request)
            times.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
    finally:
        client.close()
    return times


_FLOOR_TABLE = "CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, n INTEGER, data TEXT)"
# One step transition's worth of writes: an attempt finished, a step updated, the next attempt inserted.
_FLOOR_WRITES = [
    "INSERT INTO bench_floor (id, n, data) VALUES ($1, 0, $2)",
    "UPDATE bench_floor SET n = n + 1, data = $2 WHERE id = $1",
    "INSERT INTO bench_floor (id, n, data) VALUES ($1 || '/next', 0, $2)",
]


def sqlite_tx_ms(path: str, samples: int, synchronous: str = "NORMAL") -> list[float]:
    """Raw ``sqlite3`` transactions of one transition's size on the store's file, with its pragmas."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(_FLOOR_TABLE)
    writes = [w.replace("$1", "?1").replace("$2", "?2") for w in _FLOOR_WRITES]
    times = []
    for n in range(samples):
        key = f"{synchronous}-{n}-{time.time_ns()}"
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for sql in writes:
            conn.execute(sql, (key, '{"value": 1}'))
        conn.execute("COMMIT")
        times.append((time.perf_counter() - started) * 1000)
    conn.close()
    return times


async def postgres_durability(url: str) -> str:
    """The server's durability settings, for the report: a commit is durable only with ``fsync`` on
    (``make bench`` runs the server so: ``KNFLOW_PG_DURABLE=1``; the tests' server has it off)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        names = ("fsync", "synchronous_commit", "full_page_writes")
        return ", ".join([f"{name} {await conn.fetchval(f'SHOW {name}')}" for name in names])
    finally:
        await conn.close()


async def postgres_tx_ms(url: str, samples: int) -> list[float]:
    """Raw ``asyncpg`` transactions of one transition's size (prepared statements, synchronous commit)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(_FLOOR_TABLE)
        times = []
        for n in range(samples):
            key = f"pg-{n}-{time.time_ns()}"
            started = time.perf_counter()
            async with conn.transaction():
                for sql in _FLOOR_WRITES:
                    await conn.execute(sql, key, '{"value": 1}')
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        await conn.close()

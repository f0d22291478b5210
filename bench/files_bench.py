"""Files through a real control plane: the peak memory of the control plane while it moves a big file.

    .venv/bin/python bench/files_bench.py [--quick] [--json rows.json]

A ``knflow dev`` control plane (SQLite, local object store, local functions) runs the ``filecopy``
workflow of ``tests/e2e/files/flows``: ``fetch`` downloads the file from a loopback HTTP server and
uploads it to the store through the control plane's signed URL (PUT), ``invert`` downloads it (GET),
inverts every byte and uploads the result (PUT); then this script downloads the result (GET) through
``/v1/runs/{id}/files/{key}`` (a redirect to the signed URL, served by the control plane). The control
plane streams each of those four passes; its peak RSS (``VmHWM``, reset before the run) is compared with
its RSS before. Also ``POST /v1/files`` of the same file (a streamed upload into the store).
200 MiB by default; ``--quick`` moves 20 MiB instead (the row says so).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import PeakRss, arguments, emit, row
from tests.e2e.control_plane.processes import ControlPlane
from tests.e2e.files.conftest import Served, deploy

MiB = 1024 * 1024
#: the control plane may grow by this much while moving the file, whatever its size
TARGET_GROWTH_MB = 64


def make_file(path: Path, size: int) -> None:
    block = hashlib.sha256(b"bench").digest() * (MiB // 32)
    with path.open("wb") as out:
        for start in range(0, size, MiB):
            out.write(block[: min(MiB, size - start)])


def measure(cp: ControlPlane, rss: PeakRss, what: str, size: int, action: Any) -> dict[str, Any]:
    """Run ``action`` with the control plane's peak RSS reset first; a summary row."""
    before = rss.reset()
    started = time.perf_counter()
    detail = action()
    seconds = time.perf_counter() - started
    peak = rss.peak_mb()
    growth = peak - before
    label = f"{size // MiB} MiB" + (" (quick mode; a full run moves 200 MiB)" if size < 200 * MiB else "")
    return row(
        f"files: {what}",
        "sqlite",
        p50_ms=round(seconds * 1000, 1),
        throughput=round(size / MiB / seconds, 1),
        unit="MiB/s",
        peak_rss_mb=round(peak, 1),
        target=f"control plane grows < {TARGET_GROWTH_MB} MB moving {label}",
        met=growth < TARGET_GROWTH_MB,
        detail=f"{label}; control plane RSS {before:.0f} MB before, peak {peak:.0f} MB (+{growth:.0f} MB); {detail}",
    )


def main() -> None:
    args = arguments(__doc__)
    size = (20 if args.quick else 200) * MiB
    work = Path(tempfile.mkdtemp(prefix="knflow-files-bench-"))
    served_dir = work / "served"
    served_dir.mkdir()
    make_file(served_dir / "source.bin", size)
    make_file(served_dir / "tiny.bin", 1)
    server = Served(served_dir)
    cp = ControlPlane(work / ".knflow", env={"KNFLOW_POLL_INTERVAL": "0.2"}).start()
    rows: list[dict[str, Any]] = []
    try:
        deploy(cp, work)
        assert cp.process is not None
        rss = PeakRss(cp.process.pid)
        with httpx.Client(timeout=900) as http:
            # Warm the functions up so that the measured run moves bytes, not cold starts.
            warm = http.post(f"{cp.url}/hooks/filecopy", json={"url": server.url("tiny.bin")})
            assert warm.status_code == 200, warm.text

            def flow() -> str:
                reply = http.post(f"{cp.url}/hooks/filecopy", json={"url": server.url("source.bin")})
                assert reply.status_code == 200, reply.text
                ref = reply.json()["inverted"]["knflow.file"]
                run_id = reply.headers["x-knflow-run-id"]
                got = 0
                with http.stream("GET", f"{cp.url}/v1/runs/{run_id}/files/{ref['key']}", follow_redirects=True) as r:
                    for chunk in r.iter_bytes(MiB):
                        got += len(chunk)
                assert got == size, got
                return "2 uploads and 1 download by the functions, 1 download by the client, all through it"

            def upload() -> str:
                with (served_dir / "source.bin").open("rb") as body:
                    reply = http.post(f"{cp.url}/v1/files", params={"name": "source.bin"}, content=body)
                assert reply.status_code == 201, reply.text
                assert reply.json()["file"]["knflow.file"]["size"] == size
                return "POST /v1/files, streamed into the local store"

            rows.append(measure(cp, rss, "fetch, invert, download (4 passes)", size, flow))
            rows.append(measure(cp, rss, "upload through the API", size, upload))
    finally:
        cp.stop()
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    emit(rows, args.json)


if __name__ == "__main__":
    main()

"""Big request bodies (an 8 MiB batch of CloudEvents, an 8 MiB HTTP trigger body) are parsed off the event
loop: the control plane keeps answering its health checks while it works on one."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.control_plane.processes import ControlPlane

FLOWS = Path(__file__).parent / "flows"
BATCH = {"content-type": "application/cloudevents-batch+json"}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    tmp = tmp_path_factory.mktemp("bodies")
    shutil.copy(FLOWS / "chain.py", tmp / "chain.py")
    cp = ControlPlane(tmp / ".knflow").start()
    deployed = cp.cli("deploy", str(tmp / "chain.py"))
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    yield cp
    cp.stop()


def answered_while(cp: ControlPlane, send: Any) -> tuple[httpx.Response, int]:
    """``send()``'s reply, and how many liveness checks answered while it was in flight. Each must answer
    within 1 s: a generous bound, as a failure signal only (the loop blocked for seconds before)."""
    done = threading.Event()
    result: dict[str, httpx.Response] = {}

    def big() -> None:
        try:
            result["reply"] = send()
        finally:
            done.set()

    worker = threading.Thread(target=big)
    worker.start()
    answered = 0
    with httpx.Client(timeout=1.0) as client:
        while not done.is_set():
            if client.get(f"{cp.url}/health/liveness").status_code == 200 and not done.is_set():
                answered += 1
    worker.join()
    return result["reply"], answered


def test_liveness_answers_while_a_big_batch_of_events_is_parsed(plane: ControlPlane) -> None:
    events = [
        {"specversion": "1.0", "id": f"e{i}", "source": "/big", "type": "com.example.nothing", "data": {"n": i}}
        for i in range(80_000)
    ]
    body = json.dumps(events).encode()
    assert len(body) < 10 * 1024 * 1024

    reply, answered = answered_while(
        plane, lambda: httpx.post(f"{plane.url}/v1/events", content=body, headers=BATCH, timeout=600)
    )
    assert reply.status_code == 202, reply.text[:300]
    assert reply.json()["accepted"] == 80_000 and answered > 0


def test_liveness_answers_while_a_big_hook_body_is_parsed(plane: ControlPlane) -> None:
    big = json.dumps({"start": 1, "marker": [[i, str(i)] for i in range(450_000)]}).encode()
    assert len(big) < 10 * 1024 * 1024

    reply, answered = answered_while(
        plane,
        lambda: httpx.post(
            f"{plane.url}/hooks/chain", content=big, headers={"content-type": "application/json"}, timeout=600
        ),
    )
    assert reply.status_code == 422, reply.text[:300]  # marker is a string: refused, once parsed
    assert reply.json()["field"] == "inputs.marker" and answered > 0

"""``POST /v1/runs`` with a big body is parsed and checked off the event loop: the control plane answers
its liveness check while the body is being checked.

Deterministic, without timing: the check of the run's inputs is held (it waits for a gate) until the
liveness check has answered. Parsed on the event loop, the held check would hold the loop too, so the
liveness check could not answer before the gate gave up (after 30 s, a failure signal only).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from knflow.rest import _base
from knflow.strict_json import check
from knflow_control_plane.entrypoints.limits import OFF_LOOP_BYTES
from tests.e2e.eventing.plane import running_plane, settled_runs

BIG = "x" * (4 * OFF_LOOP_BYTES)


async def test_liveness_answers_while_a_big_run_request_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, gate = threading.Event(), threading.Event()
    gave_up: list[bool] = []

    def held_check(value: Any) -> None:
        if isinstance(value, dict) and value.get("order") == BIG:  # the run's inputs
            entered.set()
            gave_up.append(not gate.wait(30))
        check(value)

    monkeypatch.setattr(_base, "check", held_check)
    async with running_plane(tmp_path) as (_cp, client):
        body = {"workflow": "eu_orders", "inputs": {"order": BIG, "region": "eu"}}
        posting = asyncio.create_task(client.post("/v1/runs", json=body))
        assert await asyncio.to_thread(entered.wait, 30), "the run request was never checked"
        live = await client.get("/health/liveness")  # while the check is held
        gate.set()
        reply = await posting
    assert live.status_code == 200
    assert gave_up == [False], "the liveness check answered only after the held check gave up"
    assert reply.status_code == 201, reply.text


async def test_a_run_request_read_off_the_loop_keeps_its_errors(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        big = {"order": BIG, "region": "eu"}
        cases: list[tuple[Any, str, int, str]] = [
            ('{"workflow": "eu_orders", "inputs": {"order": "' + BIG + '", "n": NaN}}', "text", 422, "inputs"),
            ({"workflow": "eu_orders", "inputs": big, "extra": True}, "json", 422, "extra"),
            ({"inputs": big}, "json", 422, "workflow"),
            ({"workflow": 7, "inputs": big}, "json", 422, "workflow"),
            ('{"workflow": "eu_orders", "inputs": {"order": "' + BIG, "text", 422, ""),
        ]
        for body, kind, status, field in cases:
            if kind == "json":
                reply = await client.post("/v1/runs", json=body)
            else:
                reply = await client.post("/v1/runs", content=body, headers={"content-type": "application/json"})
            assert reply.status_code == status, (body if kind == "text" else list(body), reply.text[:300])
            assert reply.headers["content-type"] == "application/problem+json"
            assert str(reply.json()["field"]).startswith(field), reply.json()
        deep = '{"workflow": "eu_orders", "inputs": {"order": ' + "[" * 100_000 + "]" * 100_000 + "}}"
        reply = await client.post("/v1/runs", content=deep, headers={"content-type": "application/json"})
        assert reply.status_code in (400, 422), reply.text[:300]
        assert reply.json()["field"] in ("body", "inputs", "inputs.order")
        reply = await client.post("/v1/runs", json={"workflow": "eu_orders", "inputs": big})
        assert reply.status_code == 201, reply.text[:300]
        [run] = await settled_runs(client, "eu_orders", 1)
        assert run["status"] == "succeeded"
        assert (await client.get(f"/v1/runs/{run['id']}")).json()["inputs"]["order"] == BIG

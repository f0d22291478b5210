"""The checker itself: a clean history passes, and each kind of broken history is named with its ids."""

from __future__ import annotations

import copy
from typing import Any

from .checker import check
from .history import Fence, History, Sent


def _run(run_id: str, event: str, status: str = "succeeded", result: object = 10) -> dict[str, Any]:
    attempt = {"id": f"{run_id}/branch0/1", "status": "succeeded", "outputs": {"result": 1}, "worker": "r0"}
    step = {"name": "branch0", "status": "succeeded", "outputs": {"result": 1}, "attempts": [attempt]}
    return {
        "id": run_id,
        "workflow": "fan",
        "inputs": {"x": 1},
        "status": status,
        "result": result,
        "error": None,
        "finished_at": "t",
        "trigger": {"kind": "event", "event": {"id": event}},
        "steps": [step],
    }


def _history() -> History:
    history = History("sqlite", started_at=0.0, last_fault_at=1.0, read_at=2.0)
    history.sent.append(Sent("event", "e1", "fan", {"x": 1}, 0.0, accepted=True, tries=1))
    history.final = {"r1": _run("r1", "e1")}
    history.first_terminal = copy.deepcopy(history.final)
    return history


def test_a_clean_history_passes() -> None:
    assert check(_history()) == []


def test_two_runs_of_one_event_and_an_accepted_event_without_a_run() -> None:
    history = _history()
    history.final["r2"] = _run("r2", "e1")
    history.sent.append(Sent("event", "e2", "fan", {"x": 1}, 0.0, accepted=True, tries=1))
    found = {(v.invariant, v.where) for v in check(history)}
    assert ("runs == trigger events", "event e1") in found
    assert ("runs == trigger events", "event e2") in found


def test_two_successes_of_a_step_and_a_changed_terminal_run() -> None:
    history = _history()
    step = history.final["r1"]["steps"][0]
    step["attempts"].append({**step["attempts"][0], "id": "r1/branch0/2"})
    found = {(v.invariant, v.where) for v in check(history)}
    assert ("one success per step", "r1/branch0") in found
    assert ("terminal runs never change", "run r1") in found


def test_a_wrong_result_a_run_still_going_and_a_late_result_accepted() -> None:
    history = _history()
    history.final["r1"]["result"] = 11
    history.final["r3"] = _run("r3", "e3", status="running")
    history.sent.append(Sent("event", "e3", "fan", {"x": 1}, 0.0, accepted=True, tries=1))
    history.fences.append(Fence("r0", ["r1/branch0/1"], 0.0))
    found = {(v.invariant, v.where) for v in check(history)}
    assert ("no output lost", "run r1") in found
    assert ("terminal within bound", "run r3") in found
    assert ("late result refused", "attempt r1/branch0/1") in found


def _map_run(run_id: str, event: str) -> dict[str, Any]:
    items = [
        {"index": i, "status": "succeeded", "attempts": 1, "output": i + 1, "error": None, "started_at": "t"}
        for i in range(3)
    ]
    counts = {"total": 3, "succeeded": 3, "failed": 0, "running": 0, "pending": 0, "skipped": 0}
    step = {"name": "work", "status": "succeeded", "outputs": {"result": [1, 2, 3]}, "attempts": [], "map": counts}
    return {**_run(run_id, event, result=[1, 2, 3]), "workflow": "spread", "inputs": {"values": [0, 1, 2]}} | {
        "steps": [{**step, "items": items}]
    }


def test_a_map_with_each_item_one_success_passes_and_a_lost_item_is_named() -> None:
    history = _history()
    history.sent.append(Sent("event", "m1", "spread", {"values": [0, 1, 2]}, 0.0, accepted=True, tries=1))
    history.final["m"] = _map_run("m", "m1")
    history.first_terminal = copy.deepcopy(history.final)
    assert check(history) == []
    step = history.final["m"]["steps"][0]
    step["items"] = step["items"][:2]  # an item never recorded
    found = {(v.invariant, v.where) for v in check(history)}
    assert ("one success per item", "m/work") in found


def _waiter(run_id: str, event: str, payment: str | None, order: str = "o1") -> dict[str, Any]:
    """An order run: its ``paid`` step resumed by ``payment`` (None: it still waits), then ``shipped``."""
    outputs = {"event": {"id": payment, "data": {"order": order}}} if payment else None
    paid: dict[str, Any] = {"name": "paid", "status": "succeeded" if payment else "waiting", "outputs": outputs}
    paid.update(attempts=[], wait={"kind": "event", "type": "dev.knflow.chaos.paid", "source": None, "timeout": 600.0})
    return {**_run(run_id, event, result=3), "workflow": "waiter", "inputs": {"x": 1, "order": "o1"}, "steps": [paid]}


def test_a_wait_resumed_by_its_payment_passes_and_a_wrong_or_missing_one_is_named() -> None:
    history = _history()
    history.sent.append(Sent("event", "e9", "waiter", {"x": 1, "order": "o1"}, 0.0, accepted=True, tries=1))
    history.final["w1"] = _waiter("w1", "e9", "pay-o1")
    history.first_terminal = copy.deepcopy(history.final)
    assert check(history) == []  # a waiting step holds no attempt: no success counted for it
    history.final["w1"] = _waiter("w1", "e9", "pay-o2", order="o2")
    history.first_terminal = copy.deepcopy(history.final)
    assert {(v.invariant, v.where) for v in check(history)} == {("waits resume once", "w1/paid")}

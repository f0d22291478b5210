"""The offline checker: invariants over a chaos run's history, an invariant report and a counts table."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .history import TERMINAL, History
from .workload import expected_result


@dataclass(frozen=True)
class Violation:
    """One broken invariant, naming the run (and step or attempt) that breaks it."""

    invariant: str
    where: str
    what: str


def _event_id(run: dict[str, Any]) -> str | None:
    trigger = run.get("trigger") or {}
    event = trigger.get("event") or {}
    return event.get("id") if trigger.get("kind") == "event" else None


def runs_per_trigger(history: History) -> list[Violation]:
    """Runs started == distinct trigger events: one run per accepted event, per HTTP request, per tick."""
    found: dict[str, list[str]] = defaultdict(list)
    http: set[str] = set()
    ticks: dict[str, list[str]] = defaultdict(list)
    for run in history.final.values():
        kind = (run.get("trigger") or {}).get("kind")
        if kind == "event":
            found[str(_event_id(run))].append(run["id"])
        elif kind == "http":
            http.add(run["id"])
        elif kind == "schedule":
            ticks[f"{run['workflow']}@{run['trigger']['tick']}"].append(run["id"])
    out: list[Violation] = []
    events = {s.key: s for s in history.sent if s.kind == "event"}
    for key, runs in found.items():
        if key not in events:
            out.append(Violation("runs == trigger events", f"event {key}", f"runs {runs} of an event never sent"))
        elif len(runs) > 1:
            out.append(Violation("runs == trigger events", f"event {key}", f"{len(runs)} runs: {runs}"))
    for key, sent in events.items():
        if sent.accepted and key not in found:
            out.append(Violation("runs == trigger events", f"event {key}", "accepted, but no run started"))
    hooks = [s for s in history.sent if s.kind == "http"]
    for sent in hooks:
        if sent.run_id is not None and sent.run_id not in http:
            out.append(Violation("runs == trigger events", f"run {sent.run_id}", "returned by a hook, not stored"))
    if len(http) > sum(s.tries for s in hooks):
        out.append(Violation("runs == trigger events", "http", f"{len(http)} runs from fewer requests"))
    out += [Violation("runs == trigger events", tick, f"{len(r)} runs: {r}") for tick, r in ticks.items() if len(r) > 1]
    return out


def _waits(step: dict[str, Any]) -> bool:
    """Whether ``step`` waits instead of running an attempt (an event, an approval, a sleep)."""
    return (step.get("wait") or {}).get("kind") in ("event", "approval", "sleep")


def one_success_per_step(history: History) -> list[Violation]:
    """Each step of each run has exactly one recorded success (none if the step did not succeed); a map
    step has none of its own: its items (:func:`one_success_per_item`); a step that waits has no attempt
    at all."""
    out: list[Violation] = []
    for run in history.final.values():
        for step in run.get("steps", []):
            if step.get("map") is not None:
                continue
            wins = [a["id"] for a in step["attempts"] if a["status"] == "succeeded"]
            want = 1 if step["status"] == "succeeded" and not _waits(step) else 0
            if len(wins) != want:
                out.append(
                    Violation("one success per step", f"{run['id']}/{step['name']}", f"{len(wins)} successes: {wins}")
                )
    return out


def one_success_per_item(history: History) -> list[Violation]:
    """Each item of a map step is recorded once (indices 0..total-1), and succeeded exactly once when its
    step did (at least one attempt, its output kept); the counts are the items'."""
    out: list[Violation] = []
    for run in history.final.values():
        for step in run.get("steps", []):
            counts = step.get("map")
            if counts is None:
                continue
            where = f"{run['id']}/{step['name']}"
            items = step.get("items", [])
            indices = [i["index"] for i in items]
            if indices != list(range(counts["total"])):
                out.append(Violation("one success per item", where, f"items {indices[:8]} of {counts['total']}"))
            wins = [i for i in items if i["status"] == "succeeded" and i["attempts"] >= 1]
            if counts["succeeded"] != len(wins):
                out.append(Violation("one success per item", where, f"counts {counts} for {len(wins)} successes"))
            if step["status"] == "succeeded" and len(wins) != counts["total"]:
                failed = [i["index"] for i in items if i not in wins]
                out.append(Violation("one success per item", where, f"items {failed[:8]} did not succeed once"))
            if step["status"] == "succeeded" and [i["output"] for i in wins] != (step["outputs"] or {}).get("result"):
                out.append(Violation("one success per item", where, "the items' outputs are not the step's result"))
    return out


def waits_resume_once(history: History) -> list[Violation]:
    """A step that waited for an event was resumed by its order's payment (its output the event, whose data
    names the run's order), holding no attempt; the step after it ran once (:func:`one_success_per_step`)."""
    out: list[Violation] = []
    for run in history.final.values():
        for step in run.get("steps", []):
            if (step.get("wait") or {}).get("kind") != "event" or run["status"] not in TERMINAL:
                continue
            order = (run.get("inputs") or {}).get("order")
            event = (step.get("outputs") or {}).get("event") or {}
            where = f"{run['id']}/{step['name']}"
            if step["status"] != "succeeded" or event.get("id") != f"pay-{order}" or step["attempts"]:
                out.append(Violation("waits resume once", where, f"{step['status']} by {event.get('id')!r}"))
            elif (event.get("data") or {}).get("order") != order:
                out.append(Violation("waits resume once", where, f"resumed by another order's {event.get('data')}"))
    return out


def waits_across_kills(history: History) -> int:
    """Event waits during which a control plane was killed (each must still have resumed once)."""
    kills = [f.at for f in history.faults if f.name == "kill-control-plane"]
    found = 0
    for run in history.final.values():
        for step in run.get("steps", []):
            if (step.get("wait") or {}).get("kind") == "event" and step.get("started_at") and step.get("finished_at"):
                began, ended = _epoch(step["started_at"]), _epoch(step["finished_at"])
                found += any(began < at < ended for at in kills)
    return found


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _essence(run: dict[str, Any]) -> Any:
    """What may not change once a run is terminal (read-time fields such as file counts left out)."""
    steps = [
        (
            s["name"],
            s["status"],
            s["outputs"],
            [(a["id"], a["status"], a["outputs"]) for a in s["attempts"]],
            s.get("map"),
            [(i["index"], i["status"], i["attempts"], i["output"]) for i in s.get("items", [])],
        )
        for s in run.get("steps", [])
    ]
    return (run["status"], run["result"], run["error"], run["finished_at"], steps)


def terminal_is_final(history: History) -> list[Violation]:
    """No record changes after its run is terminal: the first terminal snapshot equals the final read."""
    out: list[Violation] = []
    for run_id, first in history.first_terminal.items():
        last = history.final.get(run_id)
        if last is None:
            out.append(Violation("terminal runs never change", f"run {run_id}", "gone from the final read"))
        elif _essence(first) != _essence(last):
            out.append(Violation("terminal runs never change", f"run {run_id}", f"{first['status']} -> changed"))
    return out


def no_output_lost(history: History) -> list[Violation]:
    """Every run succeeded with the result its inputs determine, and every succeeded step kept its outputs."""
    out: list[Violation] = []
    for run in history.final.values():
        if run["status"] not in TERMINAL:
            continue
        want = expected_result(run["workflow"], run.get("inputs") or {})
        if run["status"] != "succeeded" or run["result"] != want:
            error = (run.get("error") or {}).get("message", "")
            got = f"{run['status']} {run['result']!r} {error}"[:60]
            out.append(Violation("no output lost", f"run {run['id']}", f"want {want!r}, got {got}"))
        for step in run.get("steps", []):
            if step["status"] == "succeeded" and step["outputs"] is None:
                out.append(Violation("no output lost", f"{run['id']}/{step['name']}", "succeeded with no outputs"))
    return out


def terminal_within_bound(history: History) -> list[Violation]:
    """Every run reached a terminal state within the bound after the last fault."""
    late = history.read_at - max(history.last_fault_at, history.started_at)
    return [
        Violation("terminal within bound", f"run {run['id']}", f"still {run['status']} {late:.0f}s after last fault")
        for run in history.final.values()
        if run["status"] not in TERMINAL
    ]


def late_results_refused(history: History) -> list[Violation]:
    """A paused replica's attempts, whose leases expired, were recorded lost: their late results refused."""
    attempts = {a["id"]: a for run in history.final.values() for s in run.get("steps", []) for a in s["attempts"]}
    out: list[Violation] = []
    for fence in history.fences:
        for attempt_id in fence.attempts:
            status = attempts.get(attempt_id, {}).get("status")
            if status != "lost":
                out.append(Violation("late result refused", f"attempt {attempt_id}", f"{fence.worker}: {status}"))
    return out


INVARIANTS: list[tuple[str, Callable[[History], list[Violation]]]] = [
    ("runs == trigger events", runs_per_trigger),
    ("one success per step", one_success_per_step),
    ("one success per item", one_success_per_item),
    ("waits resume once", waits_resume_once),
    ("terminal runs never change", terminal_is_final),
    ("no output lost", no_output_lost),
    ("terminal within bound", terminal_within_bound),
    ("late result refused", late_results_refused),
]


def check(history: History) -> list[Violation]:
    """Every invariant's violations."""
    return [v for _, invariant in INVARIANTS for v in invariant(history)]


def report(history: History, violations: list[Violation]) -> str:
    """The invariant report and the counts table, 80 columns wide."""
    lines = [f"chaos run on {history.database}: invariants", "-" * 78]
    broken = Counter(v.invariant for v in violations)
    for name, _ in INVARIANTS:
        lines.append(f"  {name:<40} {'FAIL (' + str(broken[name]) + ')' if broken[name] else 'ok':>36}")
    for v in violations[:40]:
        lines.append(f"  ! {v.invariant}: {v.where}: {v.what}"[:78])
    lines += ["", *counts(history)]
    return "\n".join(lines)


def counts(history: History) -> list[str]:
    """The counts table: triggers, runs, attempts, faults."""
    runs = list(history.final.values())
    attempts = Counter(a["status"] for r in runs for s in r.get("steps", []) for a in s["attempts"])
    rows: list[tuple[str, object]] = [
        ("events sent / accepted", f"{_n(history, 'event')} / {_n(history, 'event', True)}"),
        ("HTTP requests / answered with a run", f"{_n(history, 'http')} / {_n(history, 'http', True)}"),
        *((f"runs {w}", n) for w, n in sorted(Counter(r["workflow"] for r in runs).items())),
        *((f"runs {s}", n) for s, n in sorted(Counter(r["status"] for r in runs).items())),
        *((f"attempts {s}", n) for s, n in sorted(attempts.items())),
        *((f"fault {f}", n) for f, n in sorted(Counter(f.name for f in history.faults).items())),
        ("attempts fenced (lease expired while paused)", sum(len(f.attempts) for f in history.fences)),
        ("event waits a control plane was killed during", waits_across_kills(history)),
        ("seconds from last fault to all terminal", f"{history.read_at - history.last_fault_at:.1f}"),
    ]
    return ["counts", "-" * 78, *(f"  {k:<50} {v!s:>26}" for k, v in rows)]


def _n(history: History, kind: str, accepted: bool = False) -> int:
    return sum(s.kind == kind and (s.accepted or not accepted) for s in history.sent)

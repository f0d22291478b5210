"""Random DAGs and random orders of facts through the run state machine, and the invariants it keeps.

Facts come as a live system delivers them: outcomes of the attempts in flight (succeeded, failed
retryable or not, lost), replays of outcomes already recorded, late results of attempts whose lease
expired, lease expiries, timers, cancels, timeouts and retries, in any order, alone or in batches.
Some steps are sub-workflow steps: each attempt starts a child run (its claim says so), whose end
(succeeded, failed, cancelled) is the attempt's outcome. Some are map steps: their items' attempts
(``step[index]``) come and go like any, never more than ``max_parallel`` running, each item succeeding
at most once (a retry of the run runs again only those that did not), their counts kept true. Some
wait (for an event, an approval or a timer) instead of running: events, decisions and timers for any step
come too, and a waiting step ends once per time it waits.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from knflow_control_plane.domain.children import child_outcome, is_child
from knflow_control_plane.domain.event_waits import ArrivedEvent
from knflow_control_plane.domain.map_views import is_map
from knflow_control_plane.domain.model import AttemptStatus, Outcome, RunStatus, StepStatus, TransitionError
from knflow_control_plane.domain.transitions import (
    ApprovalDecided,
    AttemptFinished,
    Context,
    EventArrived,
    Fact,
    LeaseExpired,
    Plan,
    RetryAsked,
    RunCancelled,
    RunTimedOut,
    StepsDue,
    TimerFired,
    state_after,
)

from .run_book import RunBook, dag_run, worker

ACTIVE = {StepStatus.PENDING, StepStatus.READY, StepStatus.RUNNING, StepStatus.WAITING}
FATAL = {"type": "ActionError", "message": "no", "code": 400, "retryable": False, "traceback": None}
FLAKY = {"type": "ConnectionError", "message": "down", "code": None, "retryable": True, "traceback": None}


Dag = tuple[dict[str, list[str]], dict[str, int], str | None, frozenset[str], dict[str, str], int, dict[str, str]]


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    """Up to 7 steps, each with upstream among the steps before it; retries 0-2; maybe a result; some of
    them sub-workflow steps, some map steps (fail or collect) over 0-5 items, some waiting for an event, an
    approval or a timer."""
    count = draw(st.integers(1, 7))
    names = [f"s{i}" for i in range(count)]
    upstream = {name: sorted(draw(st.sets(st.sampled_from(names[:i]))) if i else []) for i, name in enumerate(names)}
    retries = {name: draw(st.integers(0, 2)) for name in names}
    result = draw(st.one_of(st.none(), st.sampled_from(names)))
    children = frozenset(draw(st.sets(st.sampled_from(names))))
    mapped = draw(st.sets(st.sampled_from(names))) - children
    maps = {name: draw(st.sampled_from(["fail", "collect"])) for name in sorted(mapped)}
    kinds = st.sampled_from([None, "event", "approval", "sleep"])
    waits = {n: kind for n in names if n not in children and n not in maps and (kind := draw(kinds)) is not None}
    return upstream, retries, result, children, maps, draw(st.integers(0, 5)), waits


def ended(book: RunBook, step: str, kind: str, value: int) -> Outcome:
    """An attempt's outcome: a sub-workflow step's is its child run's end (a child is never lost: the
    lease that a crash loses comes before the child starts, ``LeaseExpired``); an item's is an action's."""
    if step not in book.run.steps or not is_child(book.run.steps[step]):
        return outcome_of(kind, value)
    status = {"ok": "succeeded", "fatal": "failed", "flaky": "cancelled"}.get(kind, "succeeded")
    return child_outcome(f"child-{value}", "child", status, {"v": value}, {"message": kind})


def outcome_of(kind: str, value: int) -> Outcome:
    if kind == "ok":
        return Outcome.succeeded({"v": value})
    if kind == "lost":
        return Outcome.lost("gone")
    return Outcome.failed(FATAL if kind == "fatal" else FLAKY)


class Invariants:
    """The checks after every transition, and the history they need."""

    def __init__(self, book: RunBook, upstream: dict[str, list[str]], children: frozenset[str], waits: dict[str, str]):
        self.book, self.upstream, self.children, self.waits = book, upstream, children, waits
        self.successes: dict[str, int] = {}
        self.child_starts: set[str] = set()  # attempts whose claim started a child run
        self.item_successes: dict[tuple[str, int], int] = {}
        self.item_claims: set[str] = set()

    def check(self, before: RunStatus, facts: list[Fact], done: Plan, was: dict[str, StepStatus]) -> None:
        book, steps = self.book, self.book.run.steps
        self.check_children(facts, done)
        retried = any(isinstance(f, RetryAsked) for f in facts)
        self.check_waits(was, done, retried)
        if before.finished and not retried:
            self.after_the_end(before, done)
        for end in [*done.ended, *(s.end for s in done.started if s.end)]:
            if end.status == AttemptStatus.SUCCEEDED.value:
                named = end.attempt_id.split("/")[1]
                self.successes[named] = self.successes.get(named, 0) + 1
                assert self.successes[named] == 1, f"step {named} succeeded twice"
        if retried:
            # After the batch's own successes are counted: a retry re-opens the steps it re-runs (a success
            # recorded in the same batch, before the retry, is one of the old epoch), and only those.
            self.successes = {n: c for n, c in self.successes.items() if steps[n].status is StepStatus.SUCCEEDED}
        self.check_maps(done, retried)
        for name, step in done.steps.items():
            if step.status in (StepStatus.READY, StepStatus.RUNNING, StepStatus.WAITING):
                assert all(steps[up].status is StepStatus.SUCCEEDED for up in self.upstream[name]), name
        status = book.run.status
        statuses = {s.status for s in steps.values()}
        if status is RunStatus.SUCCEEDED:
            assert statuses == {StepStatus.SUCCEEDED}
        elif status is RunStatus.RUNNING:
            assert StepStatus.FAILED not in statuses and statuses != {StepStatus.SUCCEEDED}
            assert book.run.remaining == sum(s.status is not StepStatus.SUCCEEDED for s in steps.values())
        else:  # attempts of a run failed by a step may still land (RUNNING), nothing else is active
            assert not statuses & ACTIVE - {StepStatus.RUNNING}, f"a {status.value} run has active steps: {statuses}"
            assert status is RunStatus.FAILED or StepStatus.RUNNING not in statuses
            assert status is RunStatus.CANCELLED or StepStatus.FAILED in statuses or book.error is not None
        running = {
            f"run-1/{n}/{s.attempts}"
            for n, s in steps.items()
            if s.status is StepStatus.RUNNING and not is_map(s.wait)  # a map runs no attempt of its own
        }
        recorded = {a for a, s in book.attempts.items() if s == AttemptStatus.RUNNING.value}
        assert running == recorded, "a step runs exactly while its current attempt does"
        for result in done.results:
            if result.duplicate:
                assert not result.events and not result.claims

    def check_maps(self, done: Plan, retried: bool) -> None:
        """Each item succeeds at most once (a map started afresh forgets its items); never more than
        ``max_parallel`` run; the counts are the items' states."""
        for name, change in done.maps.items():
            if "drop" in change.bulk or change.created is not None:
                self.item_successes = {k: c for k, c in self.item_successes.items() if k[0] != name}
            for item in change.items.values():
                if item.status == "succeeded":
                    key = (name, item.index)
                    self.item_successes[key] = self.item_successes.get(key, 0) + 1
                    assert self.item_successes[key] == 1, f"item {key} succeeded twice"
        for (run_id, name), row in self.book.maps.rows.items():
            items = self.book.maps.items[(run_id, name)]
            states = [i["status"] for i in items]
            assert states.count("running") == row["running"] <= row["max_parallel"], (name, states, row)
            for count in ("pending", "succeeded", "failed"):
                assert states.count(count) == row[count], (name, count, states, row)
            assert states.count("skipped") + states.count("cancelled") == row["skipped"], (name, states, row)
            step = self.book.run.steps[name]
            if step.status is StepStatus.SUCCEEDED:
                assert row["pending"] == row["running"] == 0, (name, row)
        for claim in done.claims:
            assert claim.attempt_id not in self.item_claims, f"{claim.attempt_id} claimed twice"
            self.item_claims.add(claim.attempt_id)

    def check_children(self, facts: list[Fact], done: Plan) -> None:
        """A claim starts a child run exactly for a sub-workflow step, once per attempt; a child that did
        not succeed fails its step (never retried)."""
        for claim in done.claims:
            assert (claim.child is not None) == (claim.step in self.children), claim
            if claim.child is not None:
                assert claim.attempt_id not in self.child_starts, f"two children for {claim.attempt_id}"
                self.child_starts.add(claim.attempt_id)
        for fact, result in zip(facts, done.results, strict=bool(facts)):  # a creation: no fact, one result
            if not isinstance(fact, AttemptFinished) or fact.step not in self.children or result.duplicate:
                continue
            if str((fact.outcome.error or {}).get("type", "")).startswith("ChildRun"):
                assert not any(e.type.endswith("step.retrying") for e in result.events), fact

    def check_waits(self, was: dict[str, StepStatus], done: Plan, retried: bool) -> None:
        """A waiting step holds no attempt; one that waits for an event is indexed as it starts waiting,
        and only then (a retry in the batch may end a wait and start it again: indexed again); a waiting
        step ends once per time it waits (a success counted like an attempt's)."""
        registered = [w.step for w in done.waits]
        assert len(registered) == len(set(registered)), f"a step indexed twice: {registered}"
        for name, step in done.steps.items():
            if step.status is StepStatus.WAITING and name in self.waits:
                assert step.started_at is not None and step.wake_at is not None  # every kind here has a deadline
            started_waiting = step.status is StepStatus.WAITING and was[name] is not StepStatus.WAITING
            if self.waits.get(name) == "event" and started_waiting:
                assert name in registered, f"{name} waits for an event unindexed"
        for name in registered:
            assert self.waits.get(name) == "event", name
            assert retried or was[name] is not StepStatus.WAITING, f"{name} indexed while it went on waiting"
        for name in done.outputs:
            if name in self.waits:
                self.successes[name] = self.successes.get(name, 0) + 1
                assert self.successes[name] == 1, f"wait {name} ended twice"

    def after_the_end(self, before: RunStatus, done: Plan) -> None:
        """Nothing changes a finished run, but the outcome of an attempt that was running when a step
        failed the run: recorded once (a success kept for a retry), starting nothing."""
        if before is not RunStatus.FAILED:
            assert not done.changes, f"a {before.value} run changed: {done}"
            return
        assert done.run is None and not done.started and not done.claims, f"a failed run moved on: {done}"
        assert all(s.status in (StepStatus.SUCCEEDED, StepStatus.CANCELLED) for s in done.steps.values())
        assert {e.type for e in done.events} <= {"dev.knflow.step.succeeded"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=dags(), data=st.data())
def test_random_dags_and_fact_orders_keep_the_invariants(dag: Dag, data: st.DataObject) -> None:
    run_random(dag, data)


@st.composite
def wait_dags(draw: st.DrawFn) -> Dag:
    """:func:`dags` of action steps and steps waiting (for an event, an approval or a timer) only."""
    upstream, retries, result, _children, _maps, items, _waits = draw(dags())
    waiting = draw(st.sets(st.sampled_from(sorted(upstream)), min_size=1))
    waits = {name: draw(st.sampled_from(["event", "approval", "sleep"])) for name in sorted(waiting)}
    return upstream, retries, result, frozenset(), {}, items, waits


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=wait_dags(), data=st.data())
def test_random_waits_and_their_events_decisions_and_timers_keep_the_invariants(dag: Dag, data: st.DataObject) -> None:
    run_random(dag, data)


def run_random(dag: Dag, data: st.DataObject) -> None:
    """A run of ``dag`` through rounds of random facts, checked after each; replays at the end."""
    upstream, retries, result, children, maps, items, waits = dag
    now = 1.0
    capacity = data.draw(st.integers(1, 4), label="capacity")
    partial = data.draw(st.booleans(), label="partial loads")
    rng = random.Random(data.draw(st.integers(0, 2**16), label="seed"))
    book, first = RunBook.create(
        dag_run(upstream, retries, result, children, maps, items, waits),
        Context(now, worker(capacity), rng),
        partial=partial,
    )
    checks = Invariants(book, upstream, children, waits)
    checks.check_children([], first)
    in_flight = {c.attempt_id: c.step for c in first.claims}
    delivered: list[AttemptFinished] = []  # outcomes already sent: replayed later
    for _ in range(data.draw(st.integers(1, 40), label="rounds")):
        now += 1.0
        facts = data.draw(st.lists(fact_strategy(book, in_flight, delivered), min_size=1, max_size=3), label="facts")
        before = book.run.status
        was = {name: step.status for name, step in book.run.steps.items()}
        try:
            done = book.transition(facts, Context(now, worker(capacity), rng))
        except TransitionError:
            assert any(isinstance(f, RetryAsked) for f in facts)
            continue
        checks.check(before, facts, done, was)
        assert_the_state_after_is_the_stored_one(book, done)
        delivered += [f for f in facts if isinstance(f, AttemptFinished)]
        for fact in facts:
            if isinstance(fact, AttemptFinished):
                in_flight.pop(fact.attempt_id, None)
        in_flight.update({c.attempt_id: c.step for c in done.claims})
        if book.run.status.finished and not in_flight and data.draw(st.booleans(), label="stop"):
            break
    event(f"run {book.run.status.value}")
    event(f"{len(checks.item_claims) // 5 * 5}+ items claimed")
    event(f"waits ended: {sorted({waits[n] for n in checks.successes if n in waits})}")
    event(f"{len(delivered) // 5 * 5}+ outcomes delivered")
    assert_replays_change_nothing(book, delivered, now + 1, capacity)
    assert_events_end_a_wait_once(book, now + 2)


def assert_the_state_after_is_the_stored_one(book: RunBook, done: Plan) -> None:
    """:func:`state_after` (of a whole state) is the run as stored: SQLite's ``state_cache`` plans from it."""
    planned = book.planned_from
    if planned is None or not planned.complete or planned.maps or done.maps:
        return
    after = state_after(planned, done)
    assert (after.status, after.remaining) == (book.run.status, book.run.remaining)
    assert after.steps == book.run.steps
    for name, outputs in after.outputs.items():
        assert book.run.steps[name].status is StepStatus.SUCCEEDED and book.outputs[name] == outputs, name


#: How often each kind of fact comes (by repetition): mostly outcomes, as in a live system.
KINDS = ["finish"] * 14 + ["due"] * 2 + ["expire", "replay", "cancel", "timeout", "retry"] + ["event"] * 2
KINDS += ["decide", "wake", "wake"]
OUTCOMES = ["ok"] * 8 + ["flaky", "flaky", "fatal", "lost"]


def fact_strategy(book: RunBook, in_flight: dict[str, str], delivered: list[AttemptFinished]) -> Any:
    """One fact, among those the run's state makes possible now."""
    kinds = [k for k in KINDS if (k not in ("finish", "expire") or in_flight) and (k != "replay" or delivered)]
    if book.run.status.finished:
        kinds += ["retry"] * 3
    return st.sampled_from(kinds).flatmap(lambda kind: _fact(kind, book, in_flight, delivered))


def _fact(kind: str, book: RunBook, in_flight: dict[str, str], delivered: list[AttemptFinished]) -> Any:
    if kind == "finish":
        return st.builds(
            lambda pair, outcome, value: AttemptFinished(pair[1], pair[0], ended(book, pair[1], outcome, value)),
            st.sampled_from(sorted(in_flight.items())),
            st.sampled_from(OUTCOMES),
            st.integers(0, 9),
        )
    if kind == "expire":
        expiring = sorted((step, int(a.rsplit("/", 1)[1])) for a, step in in_flight.items())
        return st.builds(lambda pair: LeaseExpired(*pair), st.sampled_from(expiring))
    if kind == "replay":
        return st.sampled_from(delivered)  # a replay, or a late result after the lease expired
    if kind == "retry":
        return st.builds(RetryAsked, st.one_of(st.none(), st.sampled_from(sorted(book.run.steps))))
    if kind in ("event", "decide", "wake"):
        return _wait_fact(kind, book)
    return st.just({"due": StepsDue(), "cancel": RunCancelled(), "timeout": RunTimedOut()}[kind])


def _wait_fact(kind: str, book: RunBook) -> Any:
    """An event, a decision or a timer, mostly for a waiting step."""
    waiting = sorted(n for n, step in book.run.steps.items() if step.status is StepStatus.WAITING)
    names = st.sampled_from(waiting or sorted(book.run.steps))
    if kind == "event":
        arrived = st.builds(lambda n: ArrivedEvent(f"e{n}", "t", "/s", {"k": 1}), st.integers(0, 3))
        return st.builds(EventArrived, names, arrived)
    if kind == "decide":
        return st.builds(lambda name, yes: ApprovalDecided(name, yes, "local"), names, st.booleans())
    return st.builds(TimerFired, names)


def assert_events_end_a_wait_once(book: RunBook, now: float) -> None:
    """An event for a step that no longer waits (resumed, timed out, its run over) changes nothing."""
    for name, step in sorted(book.run.steps.items()):
        if step.status is not StepStatus.WAITING:
            late = EventArrived(name, ArrivedEvent("late", "t", "/s", {"k": 1}))
            done = book.transition([late], Context(now, worker(1), random.Random(0)))
            assert done.results[0].duplicate and not done.changes, f"an event changed {name}, not waiting"


def assert_replays_change_nothing(book: RunBook, delivered: list[AttemptFinished], now: float, capacity: int) -> None:
    for fact in delivered:
        done = book.transition([fact], Context(now, worker(capacity), random.Random(0)))
        assert done.results[0].duplicate and not done.changes, f"a replay of {fact} changed the run"


def test_a_chain_runs_to_its_result_one_success_at_a_time() -> None:
    upstream = {"a": [], "b": ["a"], "c": ["b"]}
    book, done = RunBook.create(dag_run(upstream, {}, "c"), Context(1.0, worker(4)))
    for expected in ["a", "b", "c"]:
        [claim] = done.claims
        assert claim.step == expected and claim.number == 1
        done = book.transition(
            [AttemptFinished(claim.step, claim.attempt_id, Outcome.succeeded({"v": claim.inputs["x"] + 1}))],
            Context(2.0, worker(4)),
        )
    assert book.run.status is RunStatus.SUCCEEDED and book.result == 2
    assert [e.type.rsplit(".", 2)[-2:] for e in book.events][-2:] == [["step", "succeeded"], ["run", "succeeded"]]


def test_a_late_result_after_the_lease_expired_is_refused_and_the_retry_counts() -> None:
    book, done = RunBook.create(dag_run({"a": []}, {}, "a"), Context(1.0, worker(1)))
    [first] = done.claims
    lost = book.transition([LeaseExpired("a", 1)], Context(20.0, worker(1)))
    assert lost.run_status is RunStatus.RUNNING and lost.claims == []  # retried after a platform backoff
    [second] = book.transition([StepsDue()], Context(21.0, worker(1))).claims
    late = book.transition([AttemptFinished("a", first.attempt_id, Outcome.succeeded({"v": 9}))], Context(22.0))
    assert late.results[0].duplicate and not late.changes
    book.transition([AttemptFinished("a", second.attempt_id, Outcome.succeeded({"v": 2}))], Context(23.0))
    assert book.run.status is RunStatus.SUCCEEDED and book.result == 2


def test_a_cancel_mid_way_abandons_running_attempts_and_skips_nothing_twice() -> None:
    book, done = RunBook.create(dag_run({"a": [], "b": [], "c": ["a", "b"]}, {}, None), Context(1.0, worker(4)))
    a, b = done.claims
    book.transition([AttemptFinished("a", a.attempt_id, Outcome.succeeded({"v": 1}))], Context(2.0))
    cancelled = book.transition([RunCancelled()], Context(3.0))
    assert [e.attempt_id for e in cancelled.ended] == [b.attempt_id]
    assert {n: s.status.value for n, s in book.run.steps.items()} == {
        "a": "succeeded",
        "b": "cancelled",
        "c": "cancelled",
    }
    late = book.transition([AttemptFinished("b", b.attempt_id, Outcome.succeeded({"v": 1}))], Context(4.0))
    assert late.results[0].duplicate and not late.changes


def test_siblings_finishing_in_one_batch_release_their_join_once_with_both_outputs() -> None:
    book, done = RunBook.create(dag_run({"a": [], "b": [], "c": ["a", "b"]}, {}, "c"), Context(1.0, worker(4)))
    a, b = done.claims
    both = book.transition(
        [
            AttemptFinished("a", a.attempt_id, Outcome.succeeded({"v": 1})),
            AttemptFinished("b", b.attempt_id, Outcome.succeeded({"v": 2})),
        ],
        Context(2.0, worker(4)),
    )
    [join] = both.claims
    assert join.inputs == {"x": 1, "from_a": 1, "from_b": 2}
    assert both.results[0].claims == [] and both.results[1].claims == [join]  # the fact that released it

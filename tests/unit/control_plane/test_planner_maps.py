"""Map steps in the run state machine (``domain/maps.py``), over the in-memory run book: a map of 1,000
items never has more than ``max_parallel`` (100) in flight whatever order its items end in, and each item
succeeds once, joined in input order; a map mapped over a workflow input waits for the first poll; a
worker with less room than ``max_parallel`` leaves the map ready for the next poll; a failed item that
is retryable runs again after its backoff; an item's lease expiring runs it again and refuses its late
result."""

from __future__ import annotations

import random

from knflow_control_plane.domain.model import Outcome, RunStatus, StepStatus
from knflow_control_plane.domain.records import Claim
from knflow_control_plane.domain.transitions import AttemptFinished, Context, LeaseExpired, StepsDue

from .run_book import RunBook, dag_run, worker

FLAKY = {"type": "ConnectionError", "message": "down", "code": None, "retryable": True, "traceback": None}


def status_of(book: RunBook, step: str = "m") -> StepStatus:
    return book.run.steps[step].status


def run_status(book: RunBook) -> RunStatus:
    return book.run.status


def running(book: RunBook) -> int:
    """The items running now, as their records say."""
    return sum(i["status"] == "running" for items in book.maps.items.values() for i in items)


def started(items: int, capacity: int = 1000, retries: int = 0) -> tuple[RunBook, list[Claim]]:
    """A run whose only step maps over ``items`` items, started by its first poll."""
    new = dag_run({"m": []}, {"m": retries}, "m", maps={"m": "fail"}, items=items)
    book, first = RunBook.create(new, Context(1.0, worker(capacity)))
    assert first.claims == []  # a map started with the run waits for the first poll: its items are its own rows
    assert book.run.steps["m"].status is StepStatus.READY
    return book, book.transition([StepsDue()], Context(1.0, worker(capacity))).claims


def test_a_thousand_items_never_more_than_max_parallel_in_flight() -> None:
    new = dag_run({"m": []}, {}, "m", maps={"m": "fail"}, items=1000)
    new.steps[0].wait["max_parallel"] = 100  # type: ignore[index]
    book, _ = RunBook.create(new, Context(1.0, worker(1000)))
    flight = book.transition([StepsDue()], Context(1.0, worker(1000))).claims
    rng = random.Random(7)
    most = running(book)
    now = 2.0
    while flight:
        rng.shuffle(flight)  # items end in any order, a few at a time (completions batched together)
        size = rng.randint(1, 30)
        batch, flight = flight[:size], flight[size:]
        facts = [AttemptFinished(c.step, c.attempt_id, Outcome.succeeded({"result": c.inputs["item"]})) for c in batch]
        done = book.transition(list(facts), Context(now, worker(1000)))
        flight += done.claims
        most = max(most, running(book))
        assert running(book) == len(flight) <= 100
        now += 1.0
    assert most == 100
    assert book.run.status is RunStatus.SUCCEEDED
    assert book.result == list(range(1000))
    assert all(i["status"] == "succeeded" and i["attempts"] == 1 for i in book.maps.items[("run-1", "m")])


def test_a_worker_with_less_room_leaves_the_map_ready_for_the_next_poll() -> None:
    book, claims = started(5, capacity=1)
    assert [c.step for c in claims] == ["m[0]"]
    assert status_of(book) is StepStatus.READY  # room for one more (max_parallel 2): the poll's
    more = book.transition([StepsDue()], Context(2.0, worker(1))).claims
    assert [c.step for c in more] == ["m[1]"]
    assert status_of(book) is StepStatus.RUNNING  # max_parallel reached
    assert book.transition([StepsDue()], Context(3.0, worker(1))).claims == []


def test_a_retryable_failure_runs_the_item_again_after_its_backoff_and_a_lost_one_again() -> None:
    book, claims = started(2, retries=1)
    first, second = claims
    failed = book.transition([AttemptFinished(first.step, first.attempt_id, Outcome.failed(FLAKY))], Context(2.0))
    assert failed.claims == []
    assert run_status(book) is RunStatus.RUNNING
    again = book.transition([StepsDue()], Context(3.0, worker(10))).claims
    assert [(c.step, c.number) for c in again] == [("m[0]", 2)]
    lost = book.transition([LeaseExpired(second.step, 1)], Context(30.0))
    assert not lost.results[0].duplicate
    late = book.transition(
        [AttemptFinished(second.step, second.attempt_id, Outcome.succeeded({"result": "late"}))], Context(31.0)
    )
    assert late.results[0].duplicate and not late.changes
    [retried] = book.transition([StepsDue()], Context(32.0, worker(10))).claims
    assert (retried.step, retried.number) == ("m[1]", 2)
    for claim in (again[0], retried):
        book.transition(
            [AttemptFinished(claim.step, claim.attempt_id, Outcome.succeeded({"result": claim.step}))], Context(33.0)
        )
    assert run_status(book) is RunStatus.SUCCEEDED
    assert book.result == ["m[0]", "m[1]"]

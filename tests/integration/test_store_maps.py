"""Map steps in the run store, on its in-memory twin, SQLite and a real Postgres: items launched from the
counts (never more than ``max_parallel`` running), results joined in input order, ``on_error`` fail
(pending items skipped, the one in flight lands) and collect, a retry of the run that runs again only
the items that did not succeed, an item's lease expiring, mapped lists of different lengths, and a page
of a map step's items (a run of another project, an unknown step or a step that is not a map refused)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow import action, workflow
from knflow_control_plane.adapters.memory import MemoryStore
from knflow_control_plane.adapters.sqlalchemy.replies import SqlAlchemyReplies
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.map_views import ItemFilter, MapCounts
from knflow_control_plane.domain.model import NoSuchStep, Outcome, RunStatus, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, Transition, Worker
from knflow_control_plane.ports import RunStore
from tests.integration.conftest import sql_store


@action
def listing(prefix: str) -> dict[str, list[str]]:
    return {"words": [f"{prefix}{i}" for i in range(3)]}


@action
def shout(word: str, suffix: str = "!") -> str:
    return word.upper() + suffix


@workflow
def shouting(prefix: str) -> object:
    words = listing(prefix=prefix)
    return shout.map(word=words["words"], max_parallel=2)


@workflow
def collecting(prefix: str) -> object:
    words = listing(prefix=prefix)
    return shout.map(word=words["words"], suffix=words["words"], max_parallel=2, on_error="collect")


W = Worker("w1", lease=30.0, capacity=100)


@pytest.fixture(params=["memory", "sqlite", "sqlite-inline", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    """The in-memory twin, or a fresh SQLite or Postgres database."""
    if request.param == "memory":
        memory = MemoryStore(outbox=True)
        await memory.ensure_project("default", 0.0)
        yield memory
        return
    async with sql_store(request.param, tmp_path) as opened:
        yield opened


async def started(store: RunStore, now: float, spec: Any = shouting.spec) -> str:
    result = spec.result.model_dump(mode="json") if spec.result else None
    new = NewRun(
        new_run_id(now), "default", spec.name, spec.version, {"prefix": "w"}, plan_run(spec, spec.actions), result
    )
    created = await store.create_run(new, now, W)
    return created.run_id


async def mapped(store: RunStore, now: float, words: list[str], spec: Any = shouting.spec) -> tuple[str, list[Claim]]:
    """A run whose listing succeeded with ``words``: its map started, the claims of its first items."""
    result = spec.result.model_dump(mode="json") if spec.result else None
    new = NewRun(
        new_run_id(now), "default", spec.name, spec.version, {"prefix": "w"}, plan_run(spec, spec.actions), result
    )
    created = await store.create_run(new, now, W)
    [claim] = created.claims
    done = await store.complete(claim.run_id, "listing", claim.attempt_id, Outcome.succeeded({"words": words}), now, W)
    return created.run_id, done.claims


async def finish(store: RunStore, claim: Claim, outcome: Outcome, now: float) -> Transition:
    return await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, now, W)


async def counts(store: RunStore, run_id: str, step: str = "shout") -> MapCounts | None:
    view = await store.get_run(run_id)
    assert view is not None
    return {s.name: s.map for s in view.steps}[step]


async def test_items_run_at_most_max_parallel_at_once_and_join_in_order(store: RunStore) -> None:
    now = time.time()
    run_id, first = await mapped(store, now, ["a", "b", "c"])
    assert [(c.step, c.inputs) for c in first] == [("shout[0]", {"word": "a"}), ("shout[1]", {"word": "b"})]
    assert await counts(store, run_id) == MapCounts(3, 0, 0, 2, 1, 0)
    later = await finish(store, first[1], Outcome.succeeded({"result": "B!"}), now)
    assert [(c.step, c.inputs) for c in later.claims] == [("shout[2]", {"word": "c"})]
    assert (await finish(store, later.claims[0], Outcome.succeeded({"result": "C!"}), now)).claims == []
    assert await counts(store, run_id) == MapCounts(3, 2, 0, 1, 0, 0)
    last = await finish(store, first[0], Outcome.succeeded({"result": "A!"}), now)
    assert last.run_status is RunStatus.SUCCEEDED
    status = await store.run_status(run_id)
    assert status is not None
    assert status[:2] == ("succeeded", ["A!", "B!", "C!"])
    page = await store.list_items(ItemFilter(run_id, "shout", limit=2))
    assert page is not None
    assert [(i.index, i.status, i.attempts, i.output) for i in page.items] == [
        (0, "succeeded", 1, "A!"),
        (1, "succeeded", 1, "B!"),
    ]
    assert page.next_cursor == "1"
    rest = await store.list_items(ItemFilter(run_id, "shout", cursor=1, limit=2))
    assert rest is not None
    assert ([i.index for i in rest.items], rest.next_cursor) == ([2], None)
    assert await counts(store, run_id) == MapCounts(3, 3, 0, 0, 0, 0)
    replay = await finish(store, first[0], Outcome.succeeded({"result": "again"}), now)
    assert replay.duplicate


async def test_an_item_failing_for_good_fails_the_map_and_a_retry_runs_only_what_did_not_succeed(
    store: RunStore,
) -> None:
    now = time.time()
    run_id, first = await mapped(store, now, ["a", "b", "c", "d"])
    bad = Outcome.failed({"type": "ValueError", "message": "no", "retryable": False})
    failed = await finish(store, first[1], bad, now)
    assert failed.run_status is RunStatus.FAILED
    assert failed.claims == []
    assert await counts(store, run_id) == MapCounts(4, 0, 1, 1, 0, 2)  # pending ones skipped, one in flight
    landed = await finish(store, first[0], Outcome.succeeded({"result": "A!"}), now)
    assert not landed.duplicate
    assert await counts(store, run_id) == MapCounts(4, 1, 1, 0, 0, 2)
    view = await store.get_run(run_id)
    assert view is not None
    step = {s.name: s for s in view.steps}["shout"]
    assert (step.status, step.error and step.error["item"]) == ("failed", 1)
    skipped = await store.list_items(ItemFilter(run_id, "shout", status="skipped"))
    assert skipped is not None
    assert [i.index for i in skipped.items] == [2, 3]
    retried = await store.retry_run(run_id, now, "default")
    assert retried is not None
    assert await counts(store, run_id) == MapCounts(4, 1, 0, 0, 3, 0)
    again = await store.claim_ready(now + 1, W)
    claims = [c for t in again for c in t.claims]
    assert [(c.step, c.attempt_id.rsplit("/", 1)[1]) for c in claims] == [("shout[1]", "2"), ("shout[2]", "1")]
    queue = list(claims)
    while queue:
        claim = queue.pop(0)
        done = await finish(store, claim, Outcome.succeeded({"result": claim.inputs["word"].upper()}), now + 1)
        queue += done.claims
        assert {c.step for c in done.claims} <= {"shout[3]"}
    status = await store.run_status(run_id)
    assert status is not None
    assert status[:2] == ("succeeded", ["A!", "B", "C", "D"])


async def test_collect_keeps_error_records_in_the_list(store: RunStore) -> None:
    now = time.time()
    run_id, first = await mapped(store, now, ["a", "b"], collecting.spec)
    assert [c.inputs for c in first] == [{"word": "a", "suffix": "a"}, {"word": "b", "suffix": "b"}]
    bad = Outcome.failed({"type": "ValueError", "message": "no", "retryable": False})
    await finish(store, first[0], bad, now)
    done = await finish(store, first[1], Outcome.succeeded({"result": "B"}), now)
    assert done.run_status is RunStatus.SUCCEEDED
    status = await store.run_status(run_id)
    assert status is not None
    [record, ok] = status[1]
    assert (record["index"], record["error"]["type"], ok) == (0, "ValueError", "B")


async def test_a_lost_item_runs_again(store: RunStore) -> None:
    now = time.time()
    run_id, first = await mapped(store, now, ["a"])
    lost = await store.expire_leases(now + W.lease + 1, W)
    assert [t.run_id for t in lost] == [run_id]
    assert await counts(store, run_id) == MapCounts(1, 0, 0, 0, 1, 0)
    [claim] = [c for t in await store.claim_ready(now + W.lease + 5, W) for c in t.claims]
    assert claim.attempt_id == f"{run_id}/shout[0]/2"
    late = await finish(store, first[0], Outcome.succeeded({"result": "late"}), now + W.lease + 5)
    assert late.duplicate
    done = await finish(store, claim, Outcome.succeeded({"result": "A"}), now + W.lease + 5)
    assert done.run_status is RunStatus.SUCCEEDED


async def test_mapped_lists_of_different_lengths_fail_the_step(store: RunStore) -> None:
    now = time.time()
    result = collecting.spec.result.model_dump(mode="json") if collecting.spec.result else None
    spec = collecting.spec
    new = NewRun(
        new_run_id(now), "default", spec.name, spec.version, {"prefix": "w"}, plan_run(spec, spec.actions), result
    )
    created = await store.create_run(new, now, W)
    [claim] = created.claims
    done = await finish(store, claim, Outcome.succeeded({"words": "not a list"}), now)
    assert done.run_status is RunStatus.FAILED
    view = await store.get_run(created.run_id)
    assert view is not None
    step = {s.name: s for s in view.steps}["shout"]
    assert step.error is not None
    assert "a mapped input must be a list" in step.error["message"]


async def test_the_items_of_a_step_that_is_not_a_map_are_refused(store: RunStore) -> None:
    run_id = await started(store, time.time())
    with pytest.raises(NoSuchStep, match="not a map"):
        await store.list_items(ItemFilter(run_id, "listing"))
    with pytest.raises(NoSuchStep, match="no step 'nope'"):
        await store.list_items(ItemFilter(run_id, "nope"))
    assert await store.list_items(ItemFilter(run_id, "shout", project="other")) is None
    assert await store.list_items(ItemFilter("no-such-run", "shout")) is None


async def test_a_map_not_started_has_no_items_and_no_counts(store: RunStore) -> None:
    run_id = await started(store, time.time())
    page = await store.list_items(ItemFilter(run_id, "shout"))
    assert page is not None
    assert (page.items, page.next_cursor) == ([], None)
    view = await store.get_run(run_id)
    assert view is not None
    assert {s.name: s.map for s in view.steps} == {"listing": None, "shout": None}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_reply_mode_reads_an_items_attempt(kind: str, tmp_path: Path) -> None:
    """A long item's callback (async reply mode) finds its attempt: running, then its outcome; an
    earlier attempt of the item is lost, an unknown one does not exist."""
    async with sql_store(kind, tmp_path) as opened:
        replies = SqlAlchemyReplies(opened.db)
        now = time.time()
        run_id, [first, _] = await mapped(opened, now, ["a", "b"])
        found = await replies.attempt(first.attempt_id)
        assert found is not None
        status, claim = found
        assert (status, claim.step, claim.number, claim.inputs, claim.action) == (
            "running",
            "shout[0]",
            1,
            {"word": "a"},
            "shout",
        )
        assert await replies.finished([first.attempt_id]) == {}
        await finish(opened, first, Outcome.succeeded({"result": "A!"}, "said it"), now)
        done = await replies.finished([first.attempt_id])
        assert done[first.attempt_id].outputs == {"result": "A!"}
        assert done[first.attempt_id].logs == "said it"
        assert await replies.attempt(f"{run_id}/shout[0]/2") is None
        assert await replies.attempt(f"{run_id}/shout[9]/1") is None

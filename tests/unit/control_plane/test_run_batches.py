"""Per-run batching of transitions (``adapters/sqlalchemy/run_batches.py``) over a fake transaction."""

from __future__ import annotations

import asyncio

import pytest

from knflow_control_plane.adapters.sqlalchemy.run_batches import RunBatches


class FakeStore:
    """Records each transaction's items; a transaction waits on ``gate`` so that others queue meanwhile."""

    def __init__(self) -> None:
        self.transactions: list[tuple[str, list[str]]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, run_id: str, items: list[str]) -> list[str]:
        self.transactions.append((run_id, list(items)))
        await self.gate.wait()
        if "bad" in items:
            raise ValueError("bad item")
        return [f"{run_id}:{item}" for item in items]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _first_under_way() -> tuple[FakeStore, RunBatches[str, str], asyncio.Task[str]]:
    """A batcher whose first transaction (item "a" of run "r1") is under way, held by the store's gate."""
    store = FakeStore()
    batches = RunBatches(store.run)
    store.gate.clear()
    first = asyncio.create_task(batches.submit("r1", "a"))
    await _settle()
    return store, batches, first


async def test_items_arriving_during_a_transaction_share_the_next_one() -> None:
    store, batches, first = await _first_under_way()
    rest = [asyncio.create_task(batches.submit("r1", name)) for name in "bcd"]
    await _settle()
    store.gate.set()
    assert await asyncio.gather(first, *rest) == ["r1:a", "r1:b", "r1:c", "r1:d"]
    assert store.transactions == [("r1", ["a"]), ("r1", ["b", "c", "d"])]


async def test_runs_do_not_wait_for_each_other() -> None:
    store = FakeStore()
    batches = RunBatches(store.run)
    store.gate.clear()
    tasks = [asyncio.create_task(batches.submit(run, "x")) for run in ("r1", "r2", "r3")]
    await _settle()
    assert [t for t, _ in store.transactions] == ["r1", "r2", "r3"]  # all three under way at once
    store.gate.set()
    assert await asyncio.gather(*tasks) == ["r1:x", "r2:x", "r3:x"]


async def test_a_failed_batch_is_run_again_one_by_one_so_only_the_bad_item_fails() -> None:
    store, batches, first = await _first_under_way()
    rest = [asyncio.create_task(batches.submit("r1", name)) for name in ("b", "bad", "c")]
    await _settle()
    store.gate.set()
    results = await asyncio.gather(first, *rest, return_exceptions=True)
    assert results[:2] == ["r1:a", "r1:b"] and results[3] == "r1:c"
    assert isinstance(results[2], ValueError)
    assert store.transactions[1:] == [("r1", ["b", "bad", "c"]), ("r1", ["b"]), ("r1", ["bad"]), ("r1", ["c"])]


async def test_a_lone_item_that_fails_raises_to_its_caller_and_the_run_goes_on() -> None:
    store = FakeStore()
    batches = RunBatches(store.run)
    with pytest.raises(ValueError, match="bad item"):
        await batches.submit("r1", "bad")
    assert await batches.submit("r1", "a") == "r1:a"


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    store, batches, first = await _first_under_way()
    quitter = asyncio.create_task(batches.submit("r1", "q"))
    stayer = asyncio.create_task(batches.submit("r1", "s"))
    await _settle()
    quitter.cancel()
    await _settle()
    store.gate.set()
    assert list(await asyncio.wait_for(asyncio.gather(first, stayer), 5)) == ["r1:a", "r1:s"]
    assert quitter.cancelled()
    assert store.transactions == [("r1", ["a"]), ("r1", ["s"])]


async def test_a_waiter_cancelled_just_as_it_was_given_the_lead_passes_it_on() -> None:
    store, batches, first = await _first_under_way()
    quitter = asyncio.create_task(batches.submit("r1", "q"))
    stayer = asyncio.create_task(batches.submit("r1", "s"))
    await _settle()
    handed = batches._pass_lead

    def hand_then_cancel(key: str) -> None:
        handed(key)
        batches._pass_lead = handed  # type: ignore[method-assign]
        quitter.cancel()  # given the lead, not yet woken: it must pass the lead on

    batches._pass_lead = hand_then_cancel  # type: ignore[method-assign]
    store.gate.set()
    assert list(await asyncio.wait_for(asyncio.gather(first, stayer), 5)) == ["r1:a", "r1:s"]  # hangs if lost
    assert quitter.cancelled()
    assert store.transactions == [("r1", ["a"]), ("r1", ["s"])]


async def test_a_leader_cancelled_mid_transaction_hands_its_batch_to_the_next() -> None:
    store, batches, first = await _first_under_way()
    leader = asyncio.create_task(batches.submit("r1", "b"))
    follower = asyncio.create_task(batches.submit("r1", "c"))
    await _settle()
    store.gate.set()
    store.gate = asyncio.Event()  # the next transactions wait on a new gate
    await first
    await _settle()
    assert store.transactions[-1] == ("r1", ["b", "c"])  # under way, led by "b"
    leader.cancel()
    await _settle()
    store.gate.set()
    assert await asyncio.wait_for(follower, 5) == "r1:c"
    assert leader.cancelled()
    assert store.transactions[-1] == ("r1", ["c"])

"""The admission gate in front of the Postgres pool: capacity, order, lanes and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from knflow_control_plane.adapters.sqlalchemy.admission import Admission


async def _hold(gate: Admission, name: str, order: list[str], release: asyncio.Event, urgent: bool = True) -> None:
    async with gate.slot(urgent=urgent):
        order.append(name)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _holder_and_two_waiters() -> tuple[Admission, list[str], asyncio.Event, list[asyncio.Task[None]]]:
    """A one-slot gate held by "holder" until ``release`` is set, with "quitter" then "stayer" waiting."""
    gate, order, release = Admission(1), list[str](), asyncio.Event()
    tasks = []
    for name in ("holder", "quitter", "stayer"):
        tasks.append(asyncio.create_task(_hold(gate, name, order, release)))
        await _settle()
    return gate, order, release, tasks


async def test_never_more_holders_than_capacity_and_waiters_go_in_order() -> None:
    gate, order, release = Admission(2), list[str](), asyncio.Event()
    tasks = [asyncio.create_task(_hold(gate, str(i), order, release)) for i in range(6)]
    await _settle()
    assert order == ["0", "1"]
    assert (gate.holding, gate.waiting) == (2, 4)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["0", "1", "2", "3", "4", "5"]
    assert (gate.holding, gate.waiting) == (0, 0)


async def test_urgent_waiters_go_before_new_runs_that_came_first() -> None:
    gate, order, release = Admission(1), list[str](), asyncio.Event()
    first = asyncio.create_task(_hold(gate, "holder", order, release))
    await _settle()
    later = [asyncio.create_task(_hold(gate, f"new{i}", order, release, urgent=False)) for i in range(3)]
    await _settle()
    urgent = asyncio.create_task(_hold(gate, "step", order, release))
    await _settle()
    release.set()
    await asyncio.gather(first, urgent, *later)
    assert order == ["holder", "step", "new0", "new1", "new2"]


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    gate, order, release, (holder, quitter, stayer) = await _holder_and_two_waiters()
    quitter.cancel()
    await _settle()
    assert gate.waiting == 1
    release.set()
    await asyncio.gather(holder, stayer)
    assert quitter.cancelled()
    assert order == ["holder", "stayer"]
    assert (gate.holding, gate.waiting) == (0, 0)


async def test_a_slot_handed_to_a_waiter_cancelled_in_the_same_tick_passes_on() -> None:
    gate, order, release, (holder, quitter, stayer) = await _holder_and_two_waiters()
    release.set()
    await asyncio.sleep(0)  # the holder leaves: its slot is handed to the quitter, not yet running
    assert gate.waiting == 1  # the quitter holds the slot now, without having run
    quitter.cancel()
    await asyncio.wait_for(asyncio.gather(holder, stayer), 5)  # hangs if the slot were lost
    assert quitter.cancelled()
    assert order == ["holder", "stayer"]
    assert (gate.holding, gate.waiting) == (0, 0)


async def test_an_error_inside_the_block_frees_the_slot() -> None:
    gate = Admission(1)
    with pytest.raises(RuntimeError):
        async with gate.slot():
            raise RuntimeError("boom")
    assert gate.holding == 0
    async with gate.slot():
        assert gate.holding == 1


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Admission(0)

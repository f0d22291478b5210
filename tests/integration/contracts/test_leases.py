"""Named leases: one holder at a time until expiry, renewed by its holder, given up at once on release."""

from __future__ import annotations

from knflow_control_plane.ports import Leases


async def test_one_holder_at_a_time_until_expiry_or_release(leases: Leases) -> None:
    now = 1_700_000_000.0
    assert await leases.acquire_lease("scheduler", "a", now, 10.0)
    assert await leases.acquire_lease("scheduler", "a", now + 1, 10.0)  # its holder renews it
    assert not await leases.acquire_lease("scheduler", "b", now + 2, 10.0)
    assert not await leases.acquire_lease("scheduler", "b", now + 11, 10.0)  # the renewal holds to now + 11
    assert await leases.acquire_lease("scheduler", "b", now + 12, 10.0)  # a's lease expired
    assert not await leases.acquire_lease("scheduler", "a", now + 13, 10.0)
    await leases.release_lease("scheduler", "a")  # not a's to give up: b keeps it
    assert not await leases.acquire_lease("scheduler", "a", now + 14, 10.0)
    await leases.release_lease("scheduler", "b")
    assert await leases.acquire_lease("scheduler", "a", now + 15, 10.0)


async def test_leases_of_different_names_are_independent(leases: Leases) -> None:
    assert await leases.acquire_lease("scheduler", "a", 100.0, 10.0)
    assert await leases.acquire_lease("outbox-relay", "b", 100.0, 10.0)
    assert not await leases.acquire_lease("outbox-relay", "a", 101.0, 10.0)

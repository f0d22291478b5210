"""The read-through cache of deployments and routes: fresh entries are reused, stale ones read again."""

from __future__ import annotations

from knflow_control_plane.service.ttl_cache import TtlCache


async def test_entries_are_reused_until_they_expire_or_are_cleared() -> None:
    now = [0.0]
    reads: list[str] = []
    cache: TtlCache[str, str] = TtlCache(1.0, size=2, clock=lambda: now[0])

    async def load(key: str) -> str:
        reads.append(key)
        return key.upper()

    assert await cache.get("a", lambda: load("a")) == "A"
    assert await cache.get("a", lambda: load("a")) == "A"
    assert reads == ["a"]
    now[0] = 1.5
    assert await cache.get("a", lambda: load("a")) == "A"
    assert reads == ["a", "a"]
    await cache.get("b", lambda: load("b"))
    await cache.get("c", lambda: load("c"))  # over the size: the oldest ("a") goes
    await cache.get("a", lambda: load("a"))
    assert reads == ["a", "a", "b", "c", "a"]
    cache.clear()
    await cache.get("c", lambda: load("c"))
    assert reads[-1] == "c" and len(reads) == 6


async def test_none_is_a_value_too() -> None:
    reads = 0
    cache: TtlCache[str, str | None] = TtlCache(10.0)

    async def missing() -> str | None:
        nonlocal reads
        reads += 1
        return None

    assert await cache.get("x", missing) is None
    assert await cache.get("x", missing) is None
    assert reads == 1

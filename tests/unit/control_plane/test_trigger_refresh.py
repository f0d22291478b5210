"""The consumer's periodic look for triggers deployed on other replicas (``KnownTriggers.refresh``): one
small read of the triggers' generation while nothing changes, the triggers themselves when it grew, and a
whole read once in a while for a change no one counted (a replica of an older version, mid-upgrade).

The store is the in-memory one shipped in the package, counting its reads (``test_trigger_generation.py``).
"""

from __future__ import annotations

import time

from knflow_control_plane.service.known_triggers import KnownTriggers

from .test_trigger_generation import ORDER, CountedReads

FOREVER = 3600.0


async def known_after_a_deploy() -> tuple[KnownTriggers, CountedReads]:
    store = CountedReads()
    await store.replace_triggers("default", "all_shop_events", "v1", [ORDER], [], 1.0)
    known = KnownTriggers(store)
    await known.refresh(full_every=FOREVER)  # the first look reads them whole
    assert [row.workflow for row, _ in known.triggers] == ["all_shop_events"]
    return known, store


async def test_while_nothing_changes_a_look_reads_the_generation_only_and_the_triggers_stay_current() -> None:
    known, store = await known_after_a_deploy()
    reads, as_of = store.trigger_reads, known.as_of
    before = time.monotonic()

    for _ in range(5):
        await known.refresh(full_every=FOREVER)

    assert store.trigger_reads == reads  # no whole read: nothing changed
    assert store.generation_reads == 1 + 5
    assert known.as_of >= before > as_of  # known current as of the last look: an event need not reread


async def test_a_look_after_a_deploy_elsewhere_reads_the_triggers_again() -> None:
    known, store = await known_after_a_deploy()
    await store.replace_triggers("default", "eu_orders", "v1", [ORDER], [], 2.0)  # on another replica

    await known.refresh(full_every=FOREVER)

    assert sorted(row.workflow for row, _ in known.triggers) == ["all_shop_events", "eu_orders"]
    assert known.generation == await store.triggers_generation()


async def test_an_uncounted_change_is_read_by_the_next_whole_read() -> None:
    known, store = await known_after_a_deploy()
    generation = await store.triggers_generation()
    await store.replace_triggers("default", "eu_orders", "v1", [ORDER], [], 2.0)
    store._generation = generation  # as a replica of a version without the generation wrote it

    await known.refresh(full_every=FOREVER)
    assert [row.workflow for row, _ in known.triggers] == ["all_shop_events"]  # not seen: nothing counted

    await known.refresh(full_every=0.0)  # the once-a-minute whole read, due
    assert sorted(row.workflow for row, _ in known.triggers) == ["all_shop_events", "eu_orders"]

"""Event triggers and schedules of deployed workflows: replaced on deploy, a schedule keeping its cursor."""

from __future__ import annotations

from knflow_control_plane.domain.records import DeployedTrigger, Schedule
from knflow_control_plane.ports import TriggerStore

EVENT = {"kind": "event", "type": "shop.order", "source": "/shop"}
CRON = {"kind": "schedule", "cron": "*/5 * * * *", "timezone": "UTC"}


async def test_triggers_are_listed_by_workflow_and_position_and_replaced_whole(triggers: TriggerStore) -> None:
    await triggers.replace_triggers("default", "orders", "w1", [EVENT, {**EVENT, "type": "shop.refund"}], [CRON], 100.0)
    await triggers.replace_triggers("default", "billing", "b1", [EVENT], [], 100.0)
    await triggers.replace_triggers("other", "orders", "o1", [EVENT], [CRON], 100.0)
    events = await triggers.list_event_triggers("default")
    assert [(e.workflow, e.position, e.version, e.trigger["type"]) for e in events] == [
        ("billing", 0, "b1", "shop.order"),
        ("orders", 0, "w1", "shop.order"),
        ("orders", 1, "w1", "shop.refund"),
    ]
    assert events[0] == DeployedTrigger(project="default", workflow="billing", position=0, version="b1", trigger=EVENT)
    assert await triggers.list_schedules("default") == [
        Schedule(project="default", workflow="orders", position=0, version="w1", trigger=CRON, cursor=100.0)
    ]
    await triggers.replace_triggers("default", "orders", "w2", [], [], 200.0)
    assert [e.workflow for e in await triggers.list_event_triggers("default")] == ["billing"]
    assert await triggers.list_schedules("default") == []
    await triggers.delete_triggers("default", "billing")
    assert await triggers.list_event_triggers("default") == []
    assert len(await triggers.list_event_triggers("other")) == 1


async def test_a_schedule_keeps_its_cursor_across_deploys_and_only_moves_forward(triggers: TriggerStore) -> None:
    await triggers.replace_triggers("default", "orders", "w1", [], [CRON], 100.0)
    await triggers.advance_schedule("default", "orders", 0, 160.0)
    await triggers.advance_schedule("default", "orders", 0, 130.0)  # a racing replica's older tick
    assert [s.cursor for s in await triggers.list_schedules("default")] == [160.0]
    await triggers.replace_triggers("default", "orders", "w2", [], [CRON, {**CRON, "cron": "0 * * * *"}], 300.0)
    kept, new = await triggers.list_schedules("default")
    assert (kept.version, kept.cursor) == ("w2", 160.0)
    assert new.cursor == 300.0  # a new schedule fires no tick of the past
    await triggers.replace_triggers("default", "orders", "w3", [], [{**CRON, "timezone": "Europe/Paris"}], 400.0)
    assert [s.cursor for s in await triggers.list_schedules("default")] == [400.0]


async def test_every_projects_triggers_are_listed_together_for_the_plane(triggers: TriggerStore) -> None:
    await triggers.replace_triggers("default", "orders", "w1", [EVENT], [CRON], 100.0)
    await triggers.replace_triggers("other", "orders", "o1", [EVENT], [CRON], 100.0)
    every = await triggers.list_event_triggers(None)  # what one plane serving every project matches
    assert [(e.project, e.workflow, e.version) for e in every] == [
        ("default", "orders", "w1"),
        ("other", "orders", "o1"),
    ]
    assert [s.project for s in await triggers.list_schedules(None)] == ["default", "other"]


async def test_the_generation_grows_with_every_change_of_the_triggers_and_only_then(triggers: TriggerStore) -> None:
    empty = await triggers.triggers_generation()
    await triggers.replace_triggers("default", "orders", "w1", [EVENT], [CRON], 100.0)
    deployed = await triggers.triggers_generation()
    assert deployed > empty
    await triggers.list_event_triggers(None)
    await triggers.advance_schedule("default", "orders", 0, 160.0)  # a tick fired: not a change of triggers
    assert await triggers.triggers_generation() == deployed
    await triggers.replace_triggers("default", "billing", "b1", [EVENT], [], 100.0)  # a second workflow
    second = await triggers.triggers_generation()
    assert second > deployed
    await triggers.delete_triggers("default", "orders")
    assert await triggers.triggers_generation() > second

"""The run store keeps rejected trigger events: in memory, on SQLite and on a real Postgres (``rejections``)."""

from __future__ import annotations

from knflow_control_plane.domain.rejections import RejectedEvent
from knflow_control_plane.ports import RejectedEvents


def rejection(event_id: str, workflow: str | None = "orders", project: str = "default") -> RejectedEvent:
    return RejectedEvent(
        project=project,
        received_at=1_700_000_000.0,
        topic="knflow.triggers",
        source="/shop",
        event_id=event_id,
        type="shop.order",
        reason="input 'count': expected an integer",
        subject="o-1",
        workflow=workflow,
        field="inputs.count",
        data='{"count": "three"}',
    )


async def test_rejections_are_listed_newest_first_with_every_field(rejections: RejectedEvents) -> None:
    await rejections.record_rejected([rejection("e1"), rejection("e2", workflow=None)])
    found = await rejections.list_rejected("default")
    assert [r.event_id for r in found] == ["e2", "e1"]
    newest, oldest = found
    assert newest.workflow is None
    assert oldest.id is not None and newest.id is not None and newest.id > oldest.id
    assert oldest == RejectedEvent(**{**vars(rejection("e1")), "id": oldest.id})


async def test_a_redelivered_rejection_is_recorded_once_per_workflow(rejections: RejectedEvents) -> None:
    await rejections.record_rejected([rejection("e1"), rejection("e1", workflow="billing")])
    await rejections.record_rejected([rejection("e1")])
    found = await rejections.list_rejected("default")
    assert sorted((r.event_id, r.workflow) for r in found) == [("e1", "billing"), ("e1", "orders")]


async def test_rejections_filter_by_workflow_and_project_and_page_by_id(rejections: RejectedEvents) -> None:
    await rejections.record_rejected([rejection(f"e{i}") for i in range(5)] + [rejection("x", project="other")])
    await rejections.record_rejected([rejection("b1", workflow="billing")])
    assert [r.event_id for r in await rejections.list_rejected("default", workflow="billing")] == ["b1"]
    first = await rejections.list_rejected("default", workflow="orders", limit=2)
    assert [r.event_id for r in first] == ["e4", "e3"]
    rest = await rejections.list_rejected("default", workflow="orders", before=first[-1].id)
    assert [r.event_id for r in rest] == ["e2", "e1", "e0"]
    assert [r.event_id for r in await rejections.list_rejected("other")] == ["x"]

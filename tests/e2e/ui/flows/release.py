"""Workflows the web UI's dynamic-flow tests drive: a branch that is skipped (its condition does not
hold), an approval a person decides from the run page, then the step it holds back; a durable sleep; and
a wait for an event."""

from knflow import action, approval, sleep, wait_for_event, workflow


@action
def prepare(order: str) -> dict[str, object]:
    """The order, and whether it is a rush order (never: the express branch is skipped)."""
    return {"order": order, "rush": False}


@action
def express(order: str) -> str:
    """The branch taken only for rush orders."""
    return f"express {order}"


@action
def ship(order: str) -> str:
    """What the approval holds back."""
    return f"shipped {order}"


@workflow
def release(order: str) -> object:
    """Prepare, ask a person, then ship; rush orders would also go express."""
    prepare(order=order)
    express.when("steps.prepare.output.rush")(order=order)
    approval("Ship it?", timeout="1d", name="ok")
    return ship(order=order)


@workflow
def later(order: str) -> object:
    """Sleep a few seconds, then ship."""
    sleep("4s", name="nap")
    return ship(order=order)


@workflow
def paying(order: str) -> object:
    """Wait for the order's payment event, then ship."""
    wait_for_event("com.shop.paid", match={"order.id": order}, timeout="1h", name="paid")
    return ship(order=order)

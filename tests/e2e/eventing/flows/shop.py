"""Workflows started by events: orders on the triggers topic, and an HTTP-triggered one."""

from knflow import action, event, http_trigger, workflow


@action
def note(order: str, region: str = "?") -> dict[str, str]:
    """Record an order."""
    return {"order": order, "region": region}


@workflow(triggers=[event(type="com.shop.order.created", filters={"region": "eu"})])
def eu_orders(order: str, region: str) -> object:
    """Runs for EU orders only."""
    return note(order=order, region=region)


@workflow(triggers=[event(type="com.shop.*", source="/shop/*")])
def all_shop_events(order: str = "none", region: str = "?") -> object:
    """Runs for every shop event from a shop source (prefix matches)."""
    return note(order=order, region=region)


@workflow(triggers=[event(type="com.billing.invoice", topic="billing")])
def invoices(order: str) -> object:
    """Runs for invoices published straight onto the ``billing`` topic."""
    return note(order=order, region="billing")


@workflow(triggers=[http_trigger(path="/orders", method="POST", timeout="20s")])
def http_orders(order: str, region: str = "web") -> object:
    """Runs for each POST /hooks/orders."""
    return note(order=order, region=region)

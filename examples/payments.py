"""Waiting for an event: an order waits, holding no process, until its payment's CloudEvent arrives.

    knflow deploy examples/payments.py
    knflow run checkout -i order=A-42 --no-wait          # the run waits at step 'paid'
    curl -X POST localhost:8080/v1/events -H 'ce-specversion: 1.0' -H 'ce-id: pay-1' \\
         -H 'ce-source: /payments' -H 'ce-type: com.shop.paid' -H 'content-type: application/json' \\
         -d '{"order": {"id": "A-42"}, "amount": 99.5}'
    knflow get RUN --watch                               # succeeded: 'shipped A-42 (paid 99.5)'

The event resumes every run waiting for order A-42 when it arrives; one that comes before the run
waits is not kept for it. Without a payment within the hour, step 'paid' fails (EventWaitTimeout).
"""

from __future__ import annotations

from typing import Any

from knflow import action, wait_for_event, workflow


@action
def place(order: str) -> dict[str, str]:
    """Place the order."""
    return {"order": order}


@action
def ship(order: str, payment: dict[str, Any]) -> str:
    """Ship a paid order; ``payment`` is the event that paid it."""
    return f"shipped {order} (paid {payment['data']['amount']})"


@workflow
def checkout(order: str) -> object:
    """Place an order, wait for its payment event, ship it."""
    placed = place(order=order)
    paid = wait_for_event("com.shop.paid", match={"order.id": placed["order"]}, timeout="1h", name="paid")
    return ship(order=placed["order"], payment=paid["event"])

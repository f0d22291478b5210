"""Event triggers: orders posted as CloudEvents start runs; a custom trigger emits a daily report request.

    knflow deploy examples/orders.py
    curl -X POST localhost:8080/v1/events -H 'ce-specversion: 1.0' -H 'ce-id: order-42' \\
         -H 'ce-source: /shop' -H 'ce-type: com.shop.order.created' -H 'content-type: application/json' \\
         -d '{"order": "A-42", "total": 99.5, "region": "eu"}'
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from knflow import Event, action, event, trigger, workflow


@action(retries=2)
def invoice(order: str, total: float) -> dict[str, object]:
    """Make the order's invoice."""
    return {"order": order, "amount": round(total * 1.2, 2), "currency": "EUR"}


@workflow(triggers=[event(type="com.shop.order.created", filters={"region": "eu"})])
def eu_invoices(order: str, total: float, region: str = "eu") -> object:
    """One run per EU order event (the same event delivered twice starts one run)."""
    return invoice(order=order, total=total)


@trigger
async def hourly():  # type: ignore[no-untyped-def]
    """A custom trigger: yields one event per hour, with a stable id so a restart never doubles one."""
    while True:
        hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
        yield Event(type="com.shop.report.requested", data={"hour": hour}, id=f"report-{hour}")
        await asyncio.sleep(3600)


@action
def report(hour: str) -> str:
    """Summarise the hour (a stand-in)."""
    return f"report for {hour}"


@workflow(triggers=[hourly.matching(type="com.shop.report.requested")])
def hourly_report(hour: str) -> object:
    """Started by the custom trigger above."""
    return report(hour=hour)

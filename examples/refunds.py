"""Asking a person: a refund waits, holding no process, until someone approves or rejects it.

    knflow deploy examples/refunds.py
    knflow run refund -i order=A-42 -i amount=250 --no-wait   # the run waits at step 'ok'
    knflow approve RUN ok --comment "customer called"         # or: knflow reject RUN ok
    knflow get RUN --watch                                    # succeeded: 'refunded 250.0 on A-42 (local)'

Approved, the step's outputs are ``approved``, ``by`` (the API key's id, or ``local`` under ``knflow
dev``), ``comment`` and ``decided_at``; rejected, the run fails (ApprovalRejected); without a decision
within two days it fails too (ApprovalTimeout).
"""

from __future__ import annotations

from knflow import action, approval, workflow


@action
def check(order: str, amount: float) -> dict[str, object]:
    """Look the order up."""
    return {"order": order, "amount": amount}


@action
def refund_order(order: str, amount: float, by: str) -> str:
    """Pay the refund back."""
    return f"refunded {amount} on {order} ({by})"


@workflow
def refund(order: str, amount: float) -> object:
    """Check a refund, ask a person, pay it."""
    checked = check(order=order, amount=amount)
    decision = approval("Refund this order?", timeout="2d", name="ok")
    return refund_order(order=checked["order"], amount=checked["amount"], by=decision["by"])

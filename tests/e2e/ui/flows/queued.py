"""A workflow with a concurrency limit of one run per customer, whose step waits for a file the test
creates: the runs after the first wait ``queued``, with their places in the queue."""

import os
import time

from knflow import Concurrency, action, workflow


@action(timeout="300s")
def serve(customer: str, gate: str) -> str:
    """Wait until the file ``gate`` exists."""
    while not os.path.exists(gate):
        time.sleep(0.05)
    return f"served {customer}"


@workflow(concurrency=Concurrency(key="inputs.customer", limit=1))
def orders(customer: str, gate: str) -> object:
    """One run per customer at a time."""
    return serve(customer=customer, gate=gate)

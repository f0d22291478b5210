"""A workflow whose action names a secret: deploying it on the knative backend copies the secret into the
functions' Kubernetes Secret."""

import os

from knflow import action, workflow


@action(secrets=["API_TOKEN"])
def call_api(item: str) -> dict[str, str]:
    """Pretend to call an API with the token (the test checks the function got it: its last characters)."""
    return {"item": item, "token_ends": os.environ["API_TOKEN"][-7:]}


@workflow
def keyed(item: str) -> object:
    """One call."""
    return call_api(item=item)

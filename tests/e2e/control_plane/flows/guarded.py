"""A workflow behind a keyed hook and a public one, whose action reads a secret from its environment."""

import os

from knflow import action, http_trigger, workflow


@action(secrets=["GREETING"])
def greet(name: str) -> str:
    """The secret's value and the name: the secret reached the function as an environment variable."""
    return f"{os.environ['GREETING']}, {name}"


@workflow(
    triggers=[http_trigger(path="/greet", timeout="60s"), http_trigger(path="/welcome", timeout="60s", public=True)]
)
def greeting(name: str = "you") -> object:
    """One step."""
    return greet(name=name)

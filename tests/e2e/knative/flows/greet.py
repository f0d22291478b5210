"""A workflow that runs on the knative backend unchanged: the same code as embedded."""

from knflow import action, http_trigger, workflow


@action(concurrency=2, max_instances=3, memory="256Mi", cpu="250m", timeout="30s")
def greet(name: str) -> dict[str, str]:
    """Say hello."""
    return {"greeting": f"hello {name}"}


@action
def shout(greeting: str) -> dict[str, str]:
    """Louder."""
    return {"greeting": greeting.upper() + "!"}


@workflow(triggers=[http_trigger(path="/greet", method="POST", timeout="60s")])
def greetings(name: str) -> object:
    """Greet, then shout it."""
    hello = greet(name=name)
    return shout(greeting=hello["greeting"])

"""A long action for async reply mode on the knative backend (the test caps requests at 2 s)."""

import time

from knflow import action, workflow


@action(timeout="20s")
def ponder(question: str, seconds: float = 0.5) -> dict[str, str]:
    """Think for ``seconds``, then answer."""
    time.sleep(seconds)
    return {"answer": f"{question}: 42"}


@workflow
def deep_thought(question: str) -> object:
    """One long step."""
    return ponder(question=question)

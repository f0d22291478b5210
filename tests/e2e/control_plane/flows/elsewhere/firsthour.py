"""Another file defining a workflow of the same name as ``../firsthour.py``: deploying it asks for --replace."""

from knflow import action, workflow


@action
def shout(n: int) -> str:
    """``n``, loudly."""
    return f"{n}!"


@workflow
def scaled(n: int) -> object:
    """Same name, other file."""
    return shout(n=n)

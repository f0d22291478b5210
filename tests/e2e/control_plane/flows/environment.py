"""What user code sees of its environment: an action and a custom trigger each report it."""

import asyncio
import os
from typing import Any

from knflow import Event, action, trigger, workflow

#: what the tests look for: the plane's secrets must be absent, the declared and allowlisted present
WATCHED = (
    "AWS_SECRET_ACCESS_KEY",
    "PGPASSWORD",
    "KNFLOW_BOOTSTRAP_KEY",
    "KNFLOW_OBJECT_URL_SECRET",
    "KNFLOW_DATABASE_URL",
    "SOME_PLANE_TOKEN",
    "DECLARED",
    "LANG",
    "TZ",
    "PATH",
)


def _seen() -> dict[str, str]:
    return {name: os.environ[name] for name in WATCHED if name in os.environ}


@trigger(env={"DECLARED": "by-the-trigger"})
async def reporter():  # type: ignore[no-untyped-def]
    """Posts one event that carries what it sees, then keeps quiet."""
    yield Event(type="com.example.env", data={"seen": _seen()}, id="env-1")
    await asyncio.sleep(3600)


@action(env={"DECLARED": "by-the-action"})
def look(seen: dict[str, str]) -> dict[str, Any]:
    """What the trigger saw, beside what this function sees."""
    return {"trigger": seen, "function": _seen()}


@workflow(triggers=[reporter.matching(type="com.example.env")])
def environment(seen: dict[str, str]) -> object:
    """One run with both views."""
    return look(seen=seen)

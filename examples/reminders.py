"""A durable timer: the reminder is sent some seconds after the signup, holding no process meanwhile.

    knflow deploy examples/reminders.py
    knflow run onboarding -i user=ada --no-wait   # the run waits at step 'pause'
    knflow get RUN --watch                        # succeeded after 5 s: 'reminded ada'

The wake-up time is stored: stop or kill ``knflow dev`` while it waits, start it again, and the run
goes on once the time has come (once).
"""

from __future__ import annotations

from knflow import action, sleep, workflow


@action
def signup(user: str) -> dict[str, str]:
    """Record the signup."""
    return {"user": user}


@action
def remind(user: str) -> str:
    """Send the reminder."""
    return f"reminded {user}"


@workflow
def onboarding(user: str) -> object:
    """Sign a user up, wait five seconds, remind them."""
    signed = signup(user=user)
    sleep("5s", name="pause")
    return remind(user=signed["user"])

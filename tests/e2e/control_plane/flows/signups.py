"""Two workflows on one event type: a signup event whose data fits one of them is rejected by the other."""

from knflow import action, event, workflow


@action
def welcome(email: str) -> str:
    """Greet a new user."""
    return f"welcome {email}"


@workflow(triggers=[event(type="com.example.signup")])
def welcome_mail(email: str) -> object:
    """Runs for every signup."""
    return welcome(email=email)


@workflow(triggers=[event(type="com.example.signup")])
def referral_bonus(email: str, referrer: str) -> object:
    """Runs for signups that name a referrer (the others are rejected, and shown as such)."""
    return welcome(email=referrer)

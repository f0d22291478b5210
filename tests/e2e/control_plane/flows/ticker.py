"""A workflow started every second by a schedule trigger."""

from knflow import action, schedule, workflow


@action
def tick(label: str) -> dict[str, str]:
    """Say which schedule fired."""
    return {"label": label}


@workflow(triggers=[schedule("* * * * * *", timezone="Europe/Paris", inputs={"label": "every second"})])
def ticker(label: str = "manual") -> object:
    """One step per tick."""
    return tick(label=label)

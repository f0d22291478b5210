"""What a new user touches in the first hour: typed HTTP triggers, a schedule, a retried step, a file."""

import tempfile
from pathlib import Path

from knflow import File, action, http_trigger, schedule, workflow


@action
def scale(n: int, ratio: float, loud: bool) -> dict[str, object]:
    """``n * ratio``, shouted when ``loud``."""
    value = n * ratio
    return {"value": value, "text": f"{value}!" if loud else str(value)}


@action(retries=2, backoff="300ms")
def flaky(key: str) -> dict[str, int]:
    """Fails on its first attempt for ``key`` (a counter file outlives the attempt), then succeeds."""
    counter = Path(tempfile.gettempdir()) / f"knflow-firsthour-{key}"
    seen = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(seen + 1))
    if seen == 0:
        raise ConnectionError("the dependency is down")
    return {"attempts": seen + 1}


@action
def report(text: str) -> File:
    """A small text file named ``report.txt``."""
    return File.from_bytes(text.encode(), name="report.txt", content_type="text/plain")


@workflow(
    triggers=[
        http_trigger(path="/scale", method="GET", timeout="20s"),
        http_trigger(path="/scale-later", method="POST", timeout="0"),
        schedule("0 9 * * 1-5", timezone="Europe/Paris", inputs={"n": 1}),
    ]
)
def scaled(n: int, ratio: float = 1.0, loud: bool = False) -> object:
    """Scale a number: from a query string, a body, or every weekday at 9 in Paris."""
    return scale(n=n, ratio=ratio, loud=loud)


@workflow
def diamond_report(key: str, text: str = "hello") -> object:
    """A retried step and a file, side by side, then both in the result."""
    tried = flaky(key=key)
    written = report(text=text)
    return {"tried": tried, "file": written}


@action(retries=0)
def explode(reason: str) -> str:
    """Always fails (not an ActionError: the hook answers 500)."""
    raise ValueError(reason)


@workflow(triggers=[http_trigger(path="/explode", timeout="20s")])
def exploding(reason: str = "boom") -> object:
    """A workflow that fails, to see what its HTTP trigger replies."""
    return explode(reason=reason)

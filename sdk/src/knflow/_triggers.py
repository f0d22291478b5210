"""Trigger constructors for ``@workflow(triggers=[...])``: they check their arguments at once."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from ._durations import parse_duration
from ._errors import SpecError
from ._trigger_specs import EventTrigger, HttpTrigger, ManualTrigger, ScheduleTrigger
from .spec import problems_of

M = TypeVar("M", bound=BaseModel)


def _build(model: type[M], where: str, **fields: Any) -> M:
    try:
        return model(**fields)
    except ValidationError as exc:
        raise SpecError.collect(problems_of(exc, where)) from exc


def http_trigger(
    path: str,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST",
    timeout: str | float = 30.0,
    success_code: Literal[200, 201] = 200,
    *,
    public: bool = False,
    priority: int | None = None,
) -> HttpTrigger:
    """Start runs from ``/hooks/{path}``; reply with the result if it comes within ``timeout``
    (``0`` replies 202 at once), else 202 with a link to the run.

    When the control plane requires API keys (``KNFLOW_AUTH``), a hook needs a key with the ``invoke``
    (or ``admin``) role, unless ``public`` (a webhook called by a third party that sends no key).
    ``priority`` (-1000..1000): its runs go before queued runs of lower priority (``knflow.dev/v2``).

    Raises:
        SpecError: for an invalid path, method, timeout or code.
    """
    seconds = parse_duration(timeout, field="triggers.http.timeout")
    return _build(
        HttpTrigger,
        "triggers.http",
        path=path,
        method=method,
        timeout=seconds,
        success_code=success_code,
        public=public,
        priority=priority,
    )


def event(
    type: str,  # noqa: A002 (the CloudEvents attribute name)
    source: str | None = None,
    subject: str | None = None,
    filters: dict[str, Any] | None = None,
    topic: str = "knflow.triggers",
    *,
    priority: int | None = None,
) -> EventTrigger:
    """Start a run for each CloudEvent of ``type`` (and ``source``/``subject``: exact, or a prefix
    ending in ``*``) whose data fields equal ``filters``; the event's data becomes the inputs.
    ``priority``: as for :func:`http_trigger`.

    Raises:
        SpecError: for invalid arguments.
    """
    return _build(
        EventTrigger,
        "triggers.event",
        type=type,
        source=source,
        subject=subject,
        filters=filters or {},
        topic=topic,
        priority=priority,
    )


def schedule(
    cron: str,
    timezone: str = "UTC",
    inputs: dict[str, Any] | None = None,
    missed: Literal["skip", "catch_up"] = "skip",
    *,
    priority: int | None = None,
) -> ScheduleTrigger:
    """Start runs on a cron schedule (5 fields, or 6 with seconds first) in ``timezone``; ``priority``
    as for :func:`http_trigger`.

    Raises:
        SpecError: for an invalid cron expression or time zone.
    """
    return _build(
        ScheduleTrigger,
        "triggers.schedule",
        cron=cron,
        timezone=timezone,
        inputs=inputs or {},
        missed=missed,
        priority=priority,
    )


def manual() -> ManualTrigger:
    """Start runs from the API or the CLI only (every workflow also has this one)."""
    return ManualTrigger()

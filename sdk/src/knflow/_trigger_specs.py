"""The spec's triggers: what starts a run of a workflow (an HTTP hook, a CloudEvent, a cron schedule, the
API only, or a custom ``@trigger`` source). ``knflow.spec`` re-exports every name here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from ._spec_base import Name, later
from ._spec_base import SpecModel as _Model

if TYPE_CHECKING:
    from .spec import ActionSpec


class HttpTrigger(_Model):
    """Runs start from ``/hooks/{path}``; the reply waits up to ``timeout`` seconds for the result."""

    kind: Literal["http"] = "http"
    path: str = Field(pattern=r"^/?[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*/?$", max_length=200)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    timeout: float = Field(default=30.0, ge=0, le=3600)
    success_code: Literal[200, 201] = 200
    #: with API keys on, a public hook needs none (anyone who can reach the control plane may call it)
    public: bool = False
    #: runs it starts go before queued runs of lower priority (``knflow.dev/v2``)
    priority: int | None = later(ge=-1000, le=1000)

    @field_validator("path")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return "/" + value.strip("/")


class EventTrigger(_Model):
    """Runs start from CloudEvents matching type, source and subject (exact, or prefix ending in ``*``)
    and equality ``filters`` on data fields (dotted paths)."""

    kind: Literal["event"] = "event"
    type: str = Field(min_length=1)
    source: str | None = None
    subject: str | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    topic: str = "knflow.triggers"
    priority: int | None = later(ge=-1000, le=1000)


class ScheduleTrigger(_Model):
    """Runs start on a cron schedule in a time zone; ``missed`` says what happens to ticks missed
    while no control plane ran."""

    kind: Literal["schedule"] = "schedule"
    cron: str
    timezone: str = "UTC"
    inputs: dict[str, Any] = Field(default_factory=dict)
    missed: Literal["skip", "catch_up"] = "skip"
    priority: int | None = later(ge=-1000, le=1000)

    @model_validator(mode="after")
    def _check_cron(self) -> ScheduleTrigger:
        from ._cron import CronExpression, zone

        CronExpression.parse(self.cron)
        zone(self.timezone)
        return self


class ManualTrigger(_Model):
    """Runs start from the API or the CLI only."""

    kind: Literal["manual"] = "manual"


class SourceTrigger(_Model):
    """Runs start from the events a custom ``@trigger`` yields: a long-running function of the user's
    code that posts them to the control plane (the Knative ``K_SINK`` convention). Its events have the
    source ``/triggers/{name}``; ``type`` (exact or ``*`` prefix) and ``filters`` narrow them down."""

    kind: Literal["source"] = "source"
    name: Name
    version: str = Field(pattern=r"^[a-z0-9]{1,40}$")
    entrypoint: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_<][\w.<>]*$")
    options: dict[str, Any] = Field(default_factory=dict)
    type: str = Field(default="*", min_length=1)
    filters: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = later(ge=-1000, le=1000)

    @property
    def event_source(self) -> str:
        """The CloudEvents ``source`` of every event this trigger posts."""
        return f"/triggers/{self.name}"

    def as_event_trigger(self) -> EventTrigger:
        """The event trigger that matches this source's events."""
        return EventTrigger(type=self.type, source=self.event_source, filters=self.filters, priority=self.priority)

    def as_action(self) -> ActionSpec:
        """The function to build and run (an action version with no inputs)."""
        # Imported here: the spec module imports this one (an action spec is the spec's own vocabulary).
        from .spec import ActionSpec

        return ActionSpec(name=self.name, version=self.version, entrypoint=self.entrypoint, options=self.options)


Trigger = Annotated[
    Union[HttpTrigger, EventTrigger, ScheduleTrigger, ManualTrigger, SourceTrigger],  # noqa: UP007
    Field(discriminator="kind"),
]

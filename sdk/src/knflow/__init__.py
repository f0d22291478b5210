"""knflow: workflows of Python actions, run embedded or on Knative.

The front door of the SDK: everything a user writes comes from here. Names are loaded on first use
(PEP 562): a function's cold start imports ``knflow`` and must not pay for pydantic unless the user's
module uses workflows or triggers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._action import ActionDefinition, action
    from ._errors import ActionError, InputValidationError, KnflowError, SpecError
    from ._file import File
    from ._flow_specs import Concurrency
    from ._flows import approval, first_of, sleep, unmapped, wait_for_event
    from ._options import ActionOptions
    from ._source import Event, TriggerDefinition, trigger
    from ._triggers import event, http_trigger, manual, schedule
    from ._workflow import WorkflowDefinition, workflow

_WHERE = {
    "ActionDefinition": "._action",
    "action": "._action",
    "ActionError": "._errors",
    "InputValidationError": "._errors",
    "KnflowError": "._errors",
    "SpecError": "._errors",
    "File": "._file",
    "Concurrency": "._flow_specs",
    "approval": "._flows",
    "first_of": "._flows",
    "sleep": "._flows",
    "unmapped": "._flows",
    "wait_for_event": "._flows",
    "ActionOptions": "._options",
    "Event": "._source",
    "TriggerDefinition": "._source",
    "trigger": "._source",
    "event": "._triggers",
    "http_trigger": "._triggers",
    "manual": "._triggers",
    "schedule": "._triggers",
    "WorkflowDefinition": "._workflow",
    "workflow": "._workflow",
}

__all__ = [
    "ActionDefinition",
    "ActionError",
    "ActionOptions",
    "Concurrency",
    "Event",
    "File",
    "InputValidationError",
    "KnflowError",
    "SpecError",
    "TriggerDefinition",
    "WorkflowDefinition",
    "action",
    "approval",
    "event",
    "first_of",
    "http_trigger",
    "manual",
    "schedule",
    "sleep",
    "trigger",
    "unmapped",
    "wait_for_event",
    "workflow",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'knflow' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return __all__

"""knflow: workflows of Python actions, run embedded or on Knative.

The front door of the SDK: everything a user writes comes from here.
"""

from ._action import ActionDefinition, action
from ._errors import ActionError, InputValidationError, KnflowError, SpecError
from ._file import File
from ._options import ActionOptions
from ._triggers import event, http_trigger, manual, schedule
from ._workflow import WorkflowDefinition, workflow

__all__ = [
    "ActionDefinition",
    "ActionError",
    "ActionOptions",
    "File",
    "InputValidationError",
    "KnflowError",
    "SpecError",
    "WorkflowDefinition",
    "action",
    "event",
    "http_trigger",
    "manual",
    "schedule",
    "workflow",
]

"""The control plane's exception tree; the API turns each into an RFC 9457 problem.

An error says what went wrong and carries the facts a client needs as keyword fields (``fields``); it
never names an HTTP status. The API's exception handlers choose the status from the error's class
(:mod:`knflow_control_plane.entrypoints.statuses`): a subclass outside this module gets its status by
deriving from one of the kinds here (``NotFound``, ``Unavailable``, ``Forbidden``, ...).
"""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Root of the control plane's own errors.

    Args:
        message: what went wrong, for a person (the problem's ``detail``); the class's docstring by default.
        fields: facts about it, as keyword arguments (the problem's extension members).
    """

    def __init__(self, message: str | None = None, **fields: object):
        self.fields = fields
        super().__init__(message or (self.__doc__ or type(self).__name__).strip().splitlines()[0])


class NotFound(ControlPlaneError, LookupError):
    """The thing asked for does not exist."""


class Conflict(ControlPlaneError):
    """The request clashes with the current state."""


class Unauthorized(ControlPlaneError):
    """A valid API key is required: send ``Authorization: Bearer <key>``."""


class Forbidden(ControlPlaneError):
    """The API key's role does not allow this."""


class RateLimited(ControlPlaneError):
    """Too many requests: try again after Retry-After seconds.

    Attributes:
        retry_after: whole seconds until one more is let through (also in ``fields``).
    """

    def __init__(self, message: str | None = None, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class MethodNotAllowed(ControlPlaneError):
    """Method not allowed

    Attributes:
        allow: the methods served there, comma-separated (an ``Allow`` header, not a member of the
            problem); ``fields`` also names the ``field`` at fault, ``method``.
    """

    def __init__(self, message: str | None = None, *, allow: str) -> None:
        super().__init__(message, field="method", allow=allow)
        self.allow = allow


class RunEnded(ControlPlaneError):
    """A run a request waited for ended without succeeding (an HTTP trigger's reply tells how).

    Attributes:
        workflow_run_id: the run.
        step: the step that failed, if one did.
        result_link: where the run can be read.
    """

    def __init__(self, message: str | None = None, *, workflow_run_id: str, step: str | None, result_link: str):
        super().__init__(message, workflow_run_id=workflow_run_id, step=step, result_link=result_link)
        self.workflow_run_id, self.step, self.result_link = workflow_run_id, step, result_link


class RunFailed(RunEnded):
    """Run failed"""


class RunCancelled(RunEnded, Conflict):
    """Run cancelled"""


class InvalidRequest(ControlPlaneError, ValueError):
    """The request is malformed or names something invalid."""


class EventDoesNotFit(InvalidRequest):
    """The event's data fits the inputs of none of the workflows whose triggers it matches."""


class MalformedBody(InvalidRequest):
    """The request body is not JSON knflow can store: not JSON, or NaN, Infinity, a lone surrogate, too deep."""


class PayloadTooLarge(ControlPlaneError):
    """The request body is over the size limit."""


class BuildFailed(ControlPlaneError):
    """An action version could not be built."""


class DeployFailed(ControlPlaneError):
    """A function could not be deployed."""


class ActionLoadFailed(DeployFailed):
    """An action cannot be imported where it runs: a deploy fails, and so does a step, at once and without retry.

    Fields: ``action``; ``error_type`` (the user's exception, ``ModuleNotFoundError``), ``traceback``
    (its frames in the user's code) and ``logs`` (what the process wrote).
    """


class SecretNotApplied(ControlPlaneError):
    """A secret is stored, but the functions' platform did not take it (the knative backend's Kubernetes
    Secret could not be written): setting or deleting it again is safe."""


class Unavailable(ControlPlaneError):
    """Something the control plane depends on cannot take the request now; sending it again later may work."""


class FunctionUnavailable(Unavailable):
    """A function could not be reached: the attempt is retried without using the action's retries."""


class StoreUnavailable(Unavailable):
    """The run store could not be reached or refused the transaction."""


class EventBusUnavailable(Unavailable):
    """The event bus could not take the event; sending it again is safe (runs are idempotent on its id)."""


class ShuttingDown(Unavailable):
    """The control plane is shutting down.

    A request waiting for a run is answered before the run ended.

    Attributes:
        workflow_run_id: the run waited for (also in ``fields``); it goes on when the control plane is back.
    """

    def __init__(self, message: str | None = None, *, workflow_run_id: str) -> None:
        super().__init__(message, workflow_run_id=workflow_run_id)
        self.workflow_run_id = workflow_run_id

"""The control plane's exception tree; the API turns each into an RFC 9457 problem."""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Root of the control plane's own errors."""

    status = 500

    def __init__(self, message: str | None = None, **fields: object):
        self.fields = fields
        super().__init__(message or (self.__doc__ or type(self).__name__).strip().splitlines()[0])


class NotFound(ControlPlaneError, LookupError):
    """The thing asked for does not exist."""

    status = 404


class Conflict(ControlPlaneError):
    """The request clashes with the current state."""

    status = 409


class InvalidRequest(ControlPlaneError, ValueError):
    """The request is malformed or names something invalid."""

    status = 422


class EventDoesNotFit(InvalidRequest):
    """The event's data fits the inputs of none of the workflows whose triggers it matches."""

    status = 400


class MalformedBody(InvalidRequest):
    """The request body is not JSON knflow can store: not JSON, or NaN, Infinity, a lone surrogate, too deep."""

    status = 400


class PayloadTooLarge(ControlPlaneError):
    """The request body is over the size limit."""

    status = 413


class BuildFailed(ControlPlaneError):
    """An action version could not be built."""

    status = 502


class DeployFailed(ControlPlaneError):
    """A function could not be deployed."""

    status = 502


class ActionLoadFailed(DeployFailed):
    """An action cannot be imported where it runs: a deploy fails, and so does a step, at once and without retry.

    Fields: ``action``; ``error_type`` (the user's exception, ``ModuleNotFoundError``), ``traceback``
    (its frames in the user's code) and ``logs`` (what the process wrote).
    """


class SecretNotApplied(ControlPlaneError):
    """A secret is stored, but the functions' platform did not take it (the knative backend's Kubernetes
    Secret could not be written): setting or deleting it again is safe."""

    status = 502


class FunctionUnavailable(ControlPlaneError):
    """A function could not be reached: the attempt is retried without using the action's retries."""

    status = 503


class StoreUnavailable(ControlPlaneError):
    """The run store could not be reached or refused the transaction."""

    status = 503


class EventBusUnavailable(ControlPlaneError):
    """The event bus could not take the event; sending it again is safe (runs are idempotent on its id)."""

    status = 503


class ShuttingDown(ControlPlaneError):
    """The control plane is shutting down.

    A request waiting for a run is answered before the run ended.

    Attributes:
        workflow_run_id: the run waited for (in ``fields``); it goes on when the control plane is back.
    """

    status = 503

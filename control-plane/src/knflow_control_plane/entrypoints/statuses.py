"""The HTTP status of each kind of error: the one place that chooses them (RFC 9457 problems).

Errors (:mod:`knflow_control_plane.errors` and their subclasses elsewhere) say what went wrong and carry
their facts as fields; the API's exception handlers, and the local object store's signed-URL app, ask
:func:`status_of` which status to answer with. A class not listed takes its nearest listed ancestor's.
"""

from __future__ import annotations

from .. import errors
from ..service.replies import MalformedCallback

#: status by error class; the most specific listed class of an error decides
STATUS: dict[type[errors.ControlPlaneError], int] = {
    errors.ControlPlaneError: 500,
    errors.MalformedBody: 400,
    errors.EventDoesNotFit: 400,
    MalformedCallback: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.InvalidRequest: 422,
    errors.RateLimited: 429,
    errors.BuildFailed: 502,
    errors.DeployFailed: 502,
    errors.SecretNotApplied: 502,
    errors.Unavailable: 503,
}


def status_of(error: errors.ControlPlaneError) -> int:
    """The HTTP status that answers ``error``: its class's, or its nearest listed ancestor's."""
    for cls in type(error).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500

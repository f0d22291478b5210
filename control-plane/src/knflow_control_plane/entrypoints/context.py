"""What a request handler needs to know of its request: the control plane serving it, and the project it
acts in (settled by ``auth.scope``)."""

from __future__ import annotations

from fastapi import Request

from ..bootstrap import ControlPlane
from ..domain.access import Principal
from ..service.catalogue import Catalogue
from ..service.runs import Runs
from ..service.workflows import Workflows


def plane(request: Request) -> ControlPlane:
    """The control plane serving this request."""
    cp: ControlPlane = request.app.state.control_plane
    return cp


def project_of(request: Request) -> str:
    """The project the request acts in: its principal's (``auth.scope``), else the plane's default."""
    found = getattr(request.state, "principal", None)
    return found.project if isinstance(found, Principal) else plane(request).settings.project


def workflows_of(request: Request) -> Workflows:
    """The workflows service of the request's project."""
    return plane(request).workflows.of(project_of(request))


def runs_of(request: Request) -> Runs:
    """The runs of the request's project."""
    return plane(request).runs.of(project_of(request))


def catalogue_of(request: Request) -> Catalogue:
    """The catalogue of the request's project."""
    return plane(request).catalogue.of(project_of(request))

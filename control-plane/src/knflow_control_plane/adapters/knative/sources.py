"""``KnativeSources``: custom triggers as Knative Eventing ``ContainerSource`` objects.

A ContainerSource runs a container and injects ``K_SINK`` (from ``spec.sink``) into it: exactly the
contract of ``python -m knflow_runtime.source``. Each deployed ``@trigger`` becomes one ContainerSource
in the functions namespace, running its built image (by digest) with the runtime's source entrypoint and
the control plane's ``/v1/events`` as its sink; Kubernetes keeps it running. The objects are declarative:
a control plane stopping does not stop them, only an undeploy (``stop``) deletes them.
"""

from __future__ import annotations

import logging
from typing import Any

from knflow.spec import ActionSpec

from ...domain.projects import action_of
from ...errors import DeployFailed
from ...ports import Artifact
from .kubernetes import KubeApiError, KubeClient, resource_path
from .manifests import labels, object_name

log = logging.getLogger("knflow.knative")

API_VERSION = "sources.knative.dev/v1"
PLURAL = "containersources"
PREFIX = "trigger-"


def source_name(key: str, version: str) -> str:
    """The ContainerSource name of a trigger (``{workflow}/{name}``), stable and DNS-1035 safe."""
    return object_name(key.replace("/", "-"), version, prefix=PREFIX)


def render_source(key: str, action: ActionSpec, image: str, sink: str, namespace: str) -> dict[str, Any]:
    """The ContainerSource of one trigger's function (pure: no I/O).

    ``K_SINK`` is not in the container's env: the ContainerSource controller injects it from ``sink``.
    """
    env = {str(k): str(v) for k, v in dict(action.options.get("env") or {}).items()}
    env["KNFLOW_TRIGGER_NAME"] = action_of(action.name)  # its own name: its events' source
    container: dict[str, Any] = {
        "name": "trigger",
        "image": image,
        "command": ["python", "-m", "knflow_runtime.source"],
        "args": ["--trigger", action.entrypoint, "--name", action_of(action.name)],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    secrets = [str(s) for s in action.options.get("secrets") or ()]
    if secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in secrets]
    return {
        "apiVersion": API_VERSION,
        "kind": "ContainerSource",
        "metadata": {
            "name": source_name(key, action.version),
            "namespace": namespace,
            "labels": labels(action.name, action.version, "trigger"),
            "annotations": {"knflow.dev/trigger": key},
        },
        "spec": {"template": {"spec": {"containers": [container]}}, "sink": {"uri": sink}},
    }


class KnativeSources:
    """Keeps one ContainerSource per deployed custom trigger (see :class:`~knflow_control_plane.ports.SourceRunner`).

    Args:
        client: the Kubernetes API.
        namespace: where the functions live.
    """

    #: the objects outlive the control plane: stopping it does not stop the triggers
    persistent = True

    def __init__(self, client: KubeClient, namespace: str):
        self.client = client
        self.namespace = namespace
        self._names: dict[str, str] = {}  # key -> object name

    async def start(self, key: str, action: ActionSpec, artifact: Artifact, env: dict[str, str]) -> None:
        """Create or update the trigger's ContainerSource (``env["K_SINK"]`` becomes its sink).

        Raises:
            DeployFailed: the artifact is not an image, or the API refused the object.
        """
        if artifact.kind != "image":
            raise DeployFailed(f"trigger {key}: the knative backend runs images, got a {artifact.kind} build")
        manifest = render_source(key, action, artifact.location, env["K_SINK"], self.namespace)
        name = manifest["metadata"]["name"]
        collection = resource_path(API_VERSION, PLURAL, self.namespace)
        try:
            try:
                await self.client.create(collection, manifest)
            except KubeApiError as exc:
                if exc.code != 409:
                    raise
                patch = {"metadata": {"labels": manifest["metadata"]["labels"]}, "spec": manifest["spec"]}
                await self.client.merge_patch(f"{collection}/{name}", patch)
        except KubeApiError as exc:
            raise DeployFailed(f"trigger {key}: ContainerSource {name} refused: {exc}") from exc
        previous = self._names.get(key)
        self._names[key] = name
        if previous is not None and previous != name:
            await self.client.delete(f"{collection}/{previous}")  # the older version's source

    async def stop(self, key: str) -> None:
        """Delete the trigger's ContainerSources (every version, found by label and annotation)."""
        self._names.pop(key, None)
        collection = resource_path(API_VERSION, PLURAL, self.namespace)
        listed = await self.client.list(collection, label_selector="app.kubernetes.io/component=trigger")
        for item in listed.get("items", []):
            if (item["metadata"].get("annotations") or {}).get("knflow.dev/trigger") == key:
                await self.client.delete(f"{collection}/{item['metadata']['name']}")

    def running(self) -> set[str]:
        """The triggers this replica created or updated."""
        return set(self._names)

    async def close(self) -> None:
        """Nothing to stop: the ContainerSources keep running."""

"""The knative backend's secrets: the Kubernetes Secret ``knflow-secrets-{project}`` in the functions'
namespace, one key per secret, which a function's ``valueFrom.secretKeyRef`` reads (implements the
``SecretMirror`` port).

Each write is one JSON merge patch of the keys it changes, so concurrent writes of different secrets (two
replicas, two users) never undo each other; the Secret is created by the first write. Values travel only
in request bodies, never in an error or a log line.
"""

from __future__ import annotations

import base64

from .kubernetes import KubeApiError, KubeClient, resource_path

_TRIES = 3


class KubeSecretMirror:
    """Keeps each project's secrets in one Kubernetes Secret.

    Args:
        client: the Kubernetes API client (its ServiceAccount may get, patch and create those Secrets).
        namespace: the functions' namespace.
        name: the default project's Secret (``knflow-secrets-{project}``); another project's is
            ``knflow-secrets-{its name}``.
    """

    def __init__(self, client: KubeClient, namespace: str, name: str):
        self.client = client
        self.namespace = namespace
        self.name = name

    def _name(self, project: str | None) -> str:
        return self.name if project is None else f"knflow-secrets-{project}"

    def _path(self, project: str | None) -> str:
        return resource_path("v1", "secrets", self.namespace, self._name(project))

    async def put(self, values: dict[str, str], project: str | None = None) -> None:
        """See :meth:`~knflow_control_plane.ports.SecretMirror.put`.

        Raises:
            KubeError: the API refused the write or could not be reached.
        """
        if not values:
            return
        data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
        for attempt in range(1, _TRIES + 1):
            try:
                await self.client.merge_patch(self._path(project), {"data": data})
                return
            except KubeApiError as exc:
                if exc.code != 404 or attempt == _TRIES:
                    raise
            try:
                await self.client.create(resource_path("v1", "secrets", self.namespace), self._manifest(data, project))
                return
            except KubeApiError as exc:
                if exc.code != 409:  # 409: another replica created it meanwhile: patch it
                    raise

    async def remove(self, name: str, project: str | None = None) -> None:
        """See :meth:`~knflow_control_plane.ports.SecretMirror.remove`.

        Raises:
            KubeError: the API refused the write or could not be reached.
        """
        try:
            await self.client.merge_patch(self._path(project), {"data": {name: None}})  # null removes the key
        except KubeApiError as exc:
            if exc.code != 404:
                raise

    def _manifest(self, data: dict[str, str], project: str | None) -> dict[str, object]:
        labels = {"app.kubernetes.io/managed-by": "knflow", "app.kubernetes.io/component": "secrets"}
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self._name(project), "namespace": self.namespace, "labels": labels},
            "type": "Opaque",
            "data": data,
        }

"""The ``kaniko`` builder: an OCI image per action version, built in the cluster by a Kaniko Job.

The builder uploads the build context to the object store (S3 or MinIO, where the executor reads it
with ``--context=s3://...``), creates the Job, watches it to ``Complete`` or ``Failed``, and reads the
pushed digest from the build pod's termination message. The artifact is ``{repository}@{digest}``, so
functions are deployed by digest, never by a tag that could move. The build pod's log becomes the
build's logs, stored with the action version; a failed build raises :class:`BuildFailed` with them.

The Job's name is stable per action version: two replicas building the same version find one Job
(the second create answers 409) and both wait for it.
"""

from __future__ import annotations

import logging
from typing import Any

from knflow.spec import ActionSpec
from knflow_control_plane.errors import BuildFailed, ControlPlaneError
from knflow_control_plane.ports import Artifact, BuildResult, CodeBundle
from knflow_control_plane.ports.objects import ObjectStore

from .kaniko_manifests import (
    API_VERSION,
    PLURAL,
    JobState,
    KanikoOptions,
    build_context,
    context_key,
    digest_of,
    image_repository,
    job_state,
    render_job,
    termination,
)
from .kubernetes import KubeApiError, KubeClient, KubeError, resource_path, wait_for

log = logging.getLogger(__name__)

#: The most of a build pod's log kept with the action version.
_LOG_BYTES = 256 * 1024


class KanikoBuilder:
    """Builds actions into images with Kaniko Jobs (implements the ``Builder`` port).

    Args:
        client: the Kubernetes API client (create/watch Jobs, read pods and their logs).
        objects: where build contexts are uploaded.
        context_base: the ``s3://bucket/prefix`` under which ``objects`` keeps its keys: the executor
            reads ``{context_base}/{key}``.
        options: namespace, executor image, registry, credentials and limits of builds.
    """

    def __init__(self, client: KubeClient, objects: ObjectStore, context_base: str, options: KanikoOptions):
        self.client = client
        self.objects = objects
        self.context_base = context_base.rstrip("/")
        self.options = options

    def _collection(self) -> str:
        return resource_path(API_VERSION, PLURAL, self.options.namespace)

    async def build(self, action: ActionSpec, code: CodeBundle) -> BuildResult:
        """Upload the context, run the Job, and return the image by digest.

        Raises:
            BuildFailed: the code is invalid, the context cannot be uploaded, the API refused the Job,
                the Job failed or timed out (``logs`` holds the build pod's log), or no digest came back.
        """
        for name in code.files:
            if not name or name.startswith("/") or ".." in name.split("/") or "\\" in name:
                raise BuildFailed(f"invalid path in the code bundle: {name!r}", logs="", action=action.name)
        key = context_key(action, code.digest)
        try:
            await self.objects.put(key, build_context(action, code.files, self.options.base_image), "application/gzip")
        except ControlPlaneError as exc:
            raise BuildFailed(f"cannot upload the build context: {exc}", logs="", action=action.name) from exc
        job = render_job(action, f"{self.context_base}/{key}", self.options)
        name = job["metadata"]["name"]
        try:
            state, pod = await self._run(job)
            logs = await self._logs(pod)
        except KubeError as exc:
            raise BuildFailed(f"build Job {name}: {exc}", logs="", action=action.name, job=name) from exc
        exit_code, message = termination(pod) if pod else (None, "")
        header = f"kaniko Job {self.options.namespace}/{name}: {state.reason or 'finished'}\n"
        if not state.succeeded:
            detail = f"{state.reason}: {state.message}".strip(": ")
            if exit_code not in (None, 0):
                detail += f"; the executor exited with {exit_code}: {message.strip()[:500]}"
            raise BuildFailed(
                f"build of {action.name}/{action.version} failed ({detail})", logs=header + logs, job=name
            )
        digest = digest_of(message)
        if digest is None:
            raise BuildFailed(f"build Job {name} succeeded but reported no image digest", logs=header + logs, job=name)
        location = f"{image_repository(self.options.registry, action.name)}@{digest}"
        return BuildResult(artifact=Artifact(kind="image", location=location), logs=f"{header}image {location}\n{logs}")

    async def _run(self, job: dict[str, Any]) -> tuple[JobState, dict[str, Any] | None]:
        stored = await self._start(job)
        try:
            finished = await wait_for(
                self.client, self._collection(), stored, lambda o: job_state(o).finished, float(self.options.timeout)
            )
        except TimeoutError:
            # activeDeadlineSeconds should have failed it first: the Job controller is not keeping up.
            return JobState(True, False, "Timeout", f"not finished within {self.options.timeout}s"), None
        return job_state(finished), await self._pod(job["metadata"]["name"])

    async def _start(self, job: dict[str, Any]) -> dict[str, Any]:
        """Create the Job; join it if it runs already, replace it if it finished earlier."""
        path = f"{self._collection()}/{job['metadata']['name']}"
        for _ in range(3):
            try:
                return await self.client.create(self._collection(), job)
            except KubeApiError as exc:
                if exc.code != 409:
                    raise
            existing = await self.client.find(path)
            if existing is None:
                continue  # deleted in between: create again
            if not job_state(existing).finished:
                return existing  # another replica's build of the same version: wait for it
            # A finished Job of an earlier attempt: its pods (and digest) may be gone, so build again
            # (the layer cache makes a rebuild of the same context cheap).
            await self.client.delete(path, propagation="Background")
        raise KubeError(f"{path} keeps coming back: cannot start a fresh build")

    async def _pod(self, job: str) -> dict[str, Any] | None:
        pods = await self.client.list(
            resource_path("v1", "pods", self.options.namespace), label_selector=f"batch.kubernetes.io/job-name={job}"
        )
        items = pods.get("items") or []
        # The last pod started is the one that decided the Job (backoffLimit is 0: there is one).
        items.sort(key=lambda p: p.get("metadata", {}).get("creationTimestamp") or "")
        return items[-1] if items else None

    async def _logs(self, pod: dict[str, Any] | None) -> str:
        if pod is None:
            return "(no build pod found)\n"
        name = pod["metadata"]["name"]
        path = resource_path("v1", "pods", self.options.namespace, name) + "/log"
        try:
            text = await self.client.text(path, {"container": "kaniko", "limitBytes": str(_LOG_BYTES)})
        except KubeError as exc:
            # The log lives on the node: a pod whose node is gone (or that never ran) has none.
            return f"(log of pod {name} unavailable: {exc})\n"
        return text

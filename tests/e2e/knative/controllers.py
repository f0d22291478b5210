"""The test plays the cluster's controllers against the real API server.

- The Job controller: for each Kaniko Job, it reads the build context from S3 (as the executor would),
  unpacks it, creates the build pod, and marks pod and Job finished: ``Complete`` with the image digest in
  the pod's termination message, or ``Failed`` for actions listed in ``fail_builds``.
- The Knative controller: for each Service generation, it starts a real ``knflow_runtime`` process on
  loopback from the unpacked code of the image the Service names (by digest) and the env the Service sets,
  then patches ``status`` to ``Ready=True`` with that process's URL; ``Ready=False`` for actions listed in
  ``fail_services``. A deleted Service's process is stopped, as Knative would take its pods away.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import io
import os
import secrets
import socket
import sys
import tarfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, resource_path
from knflow_control_plane.ports.objects import ObjectStore

Obj = dict[str, Any]
SERVICES = ("serving.knative.dev/v1", "services")


class MissingSecretKey(Exception):
    """A container's ``secretKeyRef`` names a Secret or key that does not exist."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeCluster:
    """The Job and Knative controllers of one namespace, run as two watch loops."""

    def __init__(self, kube: KubeClient, namespace: str, objects: ObjectStore, bucket: str, work: Path):
        self.kube = kube
        self.namespace = namespace
        self.objects = objects
        self.bucket = bucket
        self.work = work
        self.fail_builds: set[str] = set()
        self.fail_services: set[str] = set()
        self.contexts: dict[str, Path] = {}  # image digest -> unpacked build context
        self.processes: dict[str, asyncio.subprocess.Process] = {}  # Service name -> runtime
        self.builds: list[str] = []
        self.started: list[str] = []  # Service names, one per function process started
        self.deleted: dict[str, asyncio.Event] = {}  # set once a deleted Service's process is gone
        self.errors: list[BaseException] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> FakeCluster:
        await self._ensure_default_service_account()
        ready = [asyncio.Event(), asyncio.Event()]
        self._tasks = [
            asyncio.create_task(self._loop(("batch/v1", "jobs"), self._on_job, ready[0])),
            asyncio.create_task(self._loop(SERVICES, self._on_service, ready[1])),
        ]
        for event in ready:
            await event.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for process in self.processes.values():
            await self._stop(process)
        if self.errors:
            raise self.errors[0]

    async def _ensure_default_service_account(self) -> None:
        # The ServiceAccount admission plugin wants it for every pod; the controller-manager makes it in a
        # real cluster.
        with contextlib.suppress(KubeApiError):
            await self.kube.create(
                resource_path("v1", "serviceaccounts", self.namespace),
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
            )

    async def _loop(
        self, kind: tuple[str, str], handle: Callable[[str, Obj], Awaitable[None]], ready: asyncio.Event
    ) -> None:
        collection = resource_path(kind[0], kind[1], self.namespace)
        version = (await self.kube.list(collection))["metadata"]["resourceVersion"]
        ready.set()
        while True:
            async for event in self.kube.watch(collection, resource_version=version, timeout_seconds=30):
                obj = event["object"]
                if event["type"] == "ERROR":
                    version = (await self.kube.list(collection))["metadata"]["resourceVersion"]
                    break
                version = obj["metadata"]["resourceVersion"]
                try:
                    await handle(event["type"], obj)
                except Exception as exc:  # reported when the test ends, with its traceback
                    self.errors.append(exc)

    # -- the Job controller -------------------------------------------------------------------------

    async def _on_job(self, kind: str, job: Obj) -> None:
        if kind != "ADDED" or (job.get("status") or {}).get("conditions"):
            return
        name = job["metadata"]["name"]
        self.builds.append(name)
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        context = next(a for a in args if a.startswith("--context=")).removeprefix("--context=")
        key = context.removeprefix(f"s3://{self.bucket}/")
        blob = await (await self.objects.get(key)).read()
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        unpacked = self.work / "contexts" / digest.removeprefix("sha256:")
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
            tar.extractall(unpacked, filter="data")
        assert (unpacked / "Dockerfile").read_text().startswith("# Generated by knflow")
        self.contexts[digest] = unpacked
        action = job["metadata"]["labels"]["knflow.dev/action"]
        failed = action in self.fail_builds
        pod = await self._create_pod(job)
        pods = resource_path("v1", "pods", self.namespace, pod["metadata"]["name"])
        terminated = {
            "exitCode": 1 if failed else 0,
            "reason": "Error" if failed else "Completed",
            "message": "error building image: RUN pip install: exit status 1" if failed else digest,
            "startedAt": _now(),
            "finishedAt": _now(),
        }
        status = {
            "phase": "Failed" if failed else "Succeeded",
            "containerStatuses": [
                {
                    "name": "kaniko",
                    "image": pod["spec"]["containers"][0]["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": terminated},
                }
            ],
        }
        await self.kube.merge_patch(pods, {"status": status}, subresource="status")
        await self._finish_job(job, failed)

    async def _create_pod(self, job: Obj) -> Obj:
        name = job["metadata"]["name"]
        template = job["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-{secrets.token_hex(3)}",
                "labels": {**template["metadata"]["labels"], "batch.kubernetes.io/job-name": name, "job-name": name},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": name,
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": template["spec"],
        }
        return await self.kube.create(resource_path("v1", "pods", self.namespace), pod)

    async def _finish_job(self, job: Obj, failed: bool) -> None:
        path = resource_path("batch/v1", "jobs", self.namespace, job["metadata"]["name"])
        now = _now()
        if failed:
            reason, message = "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            conditions = [
                {"type": "FailureTarget", "status": "True", "reason": reason, "message": message},
                {"type": "Failed", "status": "True", "reason": reason, "message": message},
            ]
            status: Obj = {"startTime": now, "failed": 1, "conditions": conditions}
        else:
            reason, message = "CompletionsReached", "Reached expected number of succeeded pods"
            conditions = [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": reason, "message": message},
                {"type": "Complete", "status": "True", "reason": reason, "message": message},
            ]
            status = {"startTime": now, "completionTime": now, "succeeded": 1, "conditions": conditions}
        for condition in conditions:
            condition["lastProbeTime"] = condition["lastTransitionTime"] = now
        await self.kube.merge_patch(path, {"status": status}, subresource="status")

    # -- the Knative controller ---------------------------------------------------------------------

    async def _on_service(self, kind: str, service: Obj) -> None:
        name = service["metadata"]["name"]
        if kind == "DELETED":
            process = self.processes.pop(name, None)
            if process is not None:
                await self._stop(process)
            self.deleted.setdefault(name, asyncio.Event()).set()
            return
        generation = service["metadata"]["generation"]
        if (service.get("status") or {}).get("observedGeneration") == generation:
            return
        action = service["metadata"]["labels"]["knflow.dev/action"]
        path = resource_path(*SERVICES, self.namespace, name)
        if action in self.fail_services:
            ready = {
                "type": "Ready",
                "status": "False",
                "reason": "RevisionFailed",
                "message": f'Revision "{name}-00001" failed with message: Back-off pulling image.',
            }
            status: Obj = {"observedGeneration": generation, "conditions": [ready]}
        else:
            try:
                url = await self._start_function(name, service)
            except MissingSecretKey as exc:  # as the kubelet: CreateContainerConfigError, the revision fails
                ready = {"type": "Ready", "status": "False", "reason": "RevisionFailed", "message": str(exc)}
                status = {"observedGeneration": generation, "conditions": [ready]}
                await self.kube.merge_patch(path, {"status": status}, subresource="status")
                return
            conditions = [
                {"type": kind, "status": "True", "lastTransitionTime": _now()}
                for kind in ("ConfigurationsReady", "RoutesReady", "Ready")
            ]
            status = {
                "observedGeneration": generation,
                "conditions": conditions,
                "url": url,
                "address": {"url": url},
                "latestCreatedRevisionName": f"{name}-{generation:05d}",
                "latestReadyRevisionName": f"{name}-{generation:05d}",
            }
        await self.kube.merge_patch(path, {"status": status}, subresource="status")

    async def _start_function(self, name: str, service: Obj) -> str:
        old = self.processes.get(name)
        if old is not None:
            # Still registered while it stops: a task cancelled meanwhile (the test ending) leaves it to
            # __aexit__, rather than to the garbage collector (a ResourceWarning, an error under -W error).
            await self._stop(old)
            self.processes.pop(name, None)
        container = service["spec"]["template"]["spec"]["containers"][0]
        code = self.contexts[container["image"].partition("@")[2]] / "code"
        port = _free_port()
        env = await self._env(container)
        env.update(PORT=str(port), KNFLOW_HOST="127.0.0.1", KNFLOW_CODE_PATH=str(code), PATH=os.environ["PATH"])
        log = (self.work / f"{name}.log").open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "knflow_runtime", env=env, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL
        )
        log.close()
        self.processes[name] = process
        self.started.append(name)
        self.deleted.pop(name, None)
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/health/readiness")).status_code == 200:
                        return url
                if process.returncode is not None:
                    break
                await asyncio.sleep(0.05)
        raise AssertionError(f"the function of {name} did not start: {(self.work / f'{name}.log').read_text()}")

    async def _env(self, container: Obj) -> dict[str, str]:
        """The container's variables, ``valueFrom.secretKeyRef`` read from its Secret as the kubelet does."""
        env: dict[str, str] = {}
        for var in container.get("env", []):
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref is None:
                env[var["name"]] = var["value"]
                continue
            secret = await self.kube.find(resource_path("v1", "secrets", self.namespace, ref["name"]))
            data = (secret or {}).get("data") or {}
            if ref["key"] not in data:
                raise MissingSecretKey(
                    f"CreateContainerConfigError: couldn't find key {ref['key']} in Secret {ref['name']}"
                )
            env[var["name"]] = base64.b64decode(data[ref["key"]]).decode()
        return env

    async def gone(self, name: str) -> None:
        """Wait until the Service ``name`` was deleted and its function stopped (as Knative's route goes)."""
        await self.deleted.setdefault(name, asyncio.Event()).wait()

    @staticmethod
    async def _stop(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

"""The ``knative`` function backend: each deployed action version is a Knative Service.

Deploy creates the Service (or merge-patches it when it exists) and watches it until the Knative
controller has seen that generation and decided: ``Ready=True`` deploys, ``Ready=False`` fails the
deployment with the condition's reason and message. Invoke POSTs the CloudEvent to ``status.url`` (or
``status.address.url``, the in-cluster address); Knative's activator holds the request while a
scaled-to-zero function cold-starts. A Service deleted by hand is re-created on the next deploy, or on
the invoke that finds it gone (drift repair). Undeploy deletes it; :meth:`KnativeBackend.collect_garbage`
deletes every knflow Service of a version no longer in use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from knflow.spec import ActionSpec
from knflow_control_plane.errors import DeployFailed, FunctionUnavailable
from knflow_control_plane.ports import Artifact, FunctionStatus, HttpReply, HttpRequest, SecretSync

from .kubernetes import KubeApiError, KubeClient, KubeError, resource_path, wait_for
from .manifests import (
    ANNOTATION_ACTION,
    API_VERSION,
    LABEL_VERSION,
    PLURAL,
    KnativeOptions,
    Readiness,
    placeholder_image,
    readiness,
    render_service,
    service_name,
)

log = logging.getLogger(__name__)


@dataclass
class _Function:
    action: ActionSpec
    artifact: Artifact
    url: str


class KnativeBackend:
    """Runs functions as Knative Services (implements the ``FunctionBackend`` port).

    Args:
        client: the Kubernetes API client (its ServiceAccount needs the Role in ``manifests/base``).
        options: namespace, visibility and autoscaling defaults of every Service.
        invoke_address: invoke ``status.address.url`` (in-cluster) instead of ``status.url``.
        ready_timeout: seconds a deploy waits for the Service to become Ready.
        gateway: the ingress to send invocations to (``http://host:port``), the URL's host as ``Host``;
            None: to the URL itself.
        http: the client invocations go through (one is made when None).
    """

    def __init__(
        self,
        client: KubeClient,
        options: KnativeOptions,
        *,
        invoke_address: bool = False,
        ready_timeout: float = 300.0,
        gateway: str | None = None,
        http: httpx.AsyncClient | None = None,
    ):
        self.gateway = gateway.rstrip("/") if gateway else None
        self.client = client
        self.options = options
        self.invoke_address = invoke_address
        self.ready_timeout = ready_timeout
        self._http = http or httpx.AsyncClient(limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100))
        self._functions: dict[tuple[str, str], _Function] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._sync_secrets: SecretSync | None = None

    def use_secrets(self, sync: SecretSync) -> None:
        """Copy the secrets an action names into the functions' Kubernetes Secret before each deploy of it
        (those set before this backend ran, or while the API server was away, included)."""
        self._sync_secrets = sync

    @property
    def request_limit(self) -> float:
        """Seconds one request may take (Knative's max-revision-timeout-seconds): a longer attempt is
        invoked in async reply mode (the ``RequestLimited`` port)."""
        return float(self.options.max_request_seconds)

    def _collection(self) -> str:
        return resource_path(API_VERSION, PLURAL, self.options.namespace)

    def _path(self, action: str, version: str) -> str:
        return resource_path(API_VERSION, PLURAL, self.options.namespace, service_name(action, version))

    async def deploy(self, action: ActionSpec, artifact: Artifact) -> FunctionStatus:
        """Create or update the action's Service and wait until Knative says it is Ready.

        Raises:
            DeployFailed: the artifact is not an image, the API refused the Service, it became
                ``Ready=False`` (reason and message in the error), or it was not Ready in time.
        """
        if artifact.kind != "image":
            raise DeployFailed(f"the knative backend runs images, not {artifact.kind!r} artifacts", action=action.name)
        manifest = render_service(action, artifact.location, self.options)
        name = manifest["metadata"]["name"]
        named = [str(s) for s in action.options.get("secrets") or ()]
        if named and self._sync_secrets is not None:
            await self._sync_secrets(action.name, named)
        try:
            stored = await self._create_or_patch(manifest)
            state = await self._wait_settled(name, stored)
        except KubeError as exc:
            raise DeployFailed(f"Knative Service {name}: {exc}", action=action.name, service=name) from exc
        if not state.ready:
            raise DeployFailed(
                f"Knative Service {name} is not ready: {state.reason or 'Unknown'}: {state.message}",
                action=action.name,
                service=name,
                reason=state.reason,
            )
        url = self._url_of(state)
        if url is None:
            raise DeployFailed(f"Knative Service {name} is Ready but has no URL", action=action.name, service=name)
        self._functions[(action.name, action.version)] = _Function(action, artifact, url)
        return self._status(action.name, action.version, name, state)

    async def preflight(self, action: ActionSpec) -> None:
        """Have the API server, and Knative's webhook behind it, admit the action's Service without storing
        it (a server-side dry run, with a placeholder image): a value the schema or Knative refuses (a
        ``containerConcurrency`` over Knative's limit, say) fails the deploy with their message before
        anything is built.

        Raises:
            DeployFailed: refused, or the API server could not be asked.
        """
        manifest = render_service(action, placeholder_image(action.name), self.options)
        name = manifest["metadata"]["name"]
        try:
            await self.client.create(self._collection(), manifest, dry_run=True)
        except KubeApiError as exc:
            if exc.code == 409:
                return  # it exists: the create was admitted and only then found taken
            raise DeployFailed(
                f"Knative refused the Service of {action.name}: {exc.detail}", action=action.name, service=name
            ) from exc
        except KubeError as exc:
            raise DeployFailed(f"Knative Service {name}: {exc}", action=action.name, service=name) from exc

    async def _create_or_patch(self, manifest: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.client.create(self._collection(), manifest)
        except KubeApiError as exc:
            if exc.code != 409:
                raise
        meta = manifest["metadata"]
        patch = {"metadata": {"labels": meta["labels"], "annotations": meta["annotations"]}, "spec": manifest["spec"]}
        path = resource_path(API_VERSION, PLURAL, self.options.namespace, meta["name"])
        return await self.client.merge_patch(path, patch)

    async def _wait_settled(self, name: str, stored: dict[str, Any]) -> Readiness:
        try:
            current = await wait_for(
                self.client, self._collection(), stored, lambda o: readiness(o).settled, self.ready_timeout
            )
        except TimeoutError:
            raise DeployFailed(
                f"Knative Service {name} was not Ready within {self.ready_timeout:.0f}s", service=name
            ) from None
        return readiness(current)

    async def undeploy(self, action: str, version: str) -> None:
        """Delete the action's Service (its revisions and pods go with it); a no-op when absent.

        The backend remembers what it deployed: an invocation of the version after this (a retried run)
        re-creates the Service rather than failing.
        """
        try:
            await self.client.delete(self._path(action, version))
        except KubeError as exc:
            raise DeployFailed(f"cannot delete Knative Service {service_name(action, version)}: {exc}") from exc

    async def invoke(self, action: str, version: str, request: HttpRequest, timeout: float) -> HttpReply:
        """POST ``request`` to the function's URL; re-create its Service first if it was deleted.

        Raises:
            FunctionUnavailable: not deployed here, unreachable, or gone and not re-creatable.
            TimeoutError: no reply within ``timeout``.
        """
        key = (action, version)
        function = self._functions.get(key)
        if function is None:
            raise FunctionUnavailable(f"{action}/{version} is not deployed", action=action)
        try:
            reply = await self._post(function.url, request, timeout)
        except FunctionUnavailable:
            if not await self._repair(key, function):
                raise
            return await self._post(self._functions[key].url, request, timeout)
        # An ingress answers 404 for a host it no longer routes: the Service may have gone.
        if reply.status == 404 and await self._repair(key, function):
            return await self._post(self._functions[key].url, request, timeout)
        return reply

    async def _post(self, url: str, request: HttpRequest, timeout: float) -> HttpReply:
        headers = dict(request.headers)
        if self.gateway:
            target = httpx.URL(url)
            headers["host"] = target.host
            url = f"{self.gateway}{target.raw_path.decode() or '/'}"
        try:
            response = await self._http.post(url, content=request.body, headers=headers, timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
            raise FunctionUnavailable(f"{url} unreachable: {exc!r}") from exc
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"no reply from {url} within {timeout:.1f}s") from exc
        except httpx.TransportError as exc:
            raise FunctionUnavailable(f"{url} failed: {exc!r}") from exc
        return HttpReply(status=response.status_code, headers=dict(response.headers), body=response.content)

    async def _repair(self, key: tuple[str, str], seen: _Function) -> bool:
        """Re-create a Service deleted by hand (or pick up its new URL); True if the call is worth retrying."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            current = self._functions.get(key)
            if current is not None and current.url != seen.url:
                return True  # another invocation repaired it meanwhile
            try:
                service = await self.client.find(self._path(*key))
            except KubeError as exc:
                log.warning("cannot check Knative Service of %s/%s: %s", *key, exc)
                return False
            if service is not None:
                state = readiness(service)
                url = self._url_of(state)
                if state.ready and url and url != seen.url:
                    seen.url = url
                    return True
                return False
            log.warning("Knative Service of %s/%s is gone: re-creating it", *key)
            try:
                await self.deploy(seen.action, seen.artifact)
            except DeployFailed as exc:
                raise FunctionUnavailable(f"{key[0]}/{key[1]} was deleted and cannot be re-created: {exc}") from exc
            return True

    async def status(self, action: str, version: str) -> FunctionStatus:
        """The Service's readiness and URL (``ready`` is False when it does not exist)."""
        name = service_name(action, version)
        try:
            service = await self.client.find(self._path(action, version))
        except KubeError as exc:
            return FunctionStatus(action=action, version=version, ready=False, message=str(exc))
        if service is None:
            return FunctionStatus(action=action, version=version, ready=False, message="not deployed")
        return self._status(action, version, name, readiness(service))

    async def collect_garbage(self, keep: Iterable[tuple[str, str]]) -> list[str]:
        """Delete every knflow Service whose (action, version) is not in ``keep``; their names.

        Args:
            keep: the action versions that a deployed workflow or an unfinished run still uses
                (:func:`knflow_control_plane.service.garbage.versions_in_use`).
        """
        wanted = set(keep)
        listing = await self.client.list(self._collection(), label_selector="app.kubernetes.io/managed-by=knflow")
        deleted = []
        for item in listing.get("items", []):
            meta = item.get("metadata", {})
            action = (meta.get("annotations") or {}).get(ANNOTATION_ACTION)
            version = (meta.get("labels") or {}).get(LABEL_VERSION)
            path = resource_path(API_VERSION, PLURAL, self.options.namespace, meta["name"])
            if action and version and (action, version) not in wanted and await self.client.delete(path):
                deleted.append(meta["name"])
        return deleted

    async def close(self) -> None:
        """Close the HTTP and API clients (the Services stay: they outlive this replica)."""
        await self._http.aclose()
        await self.client.close()

    def _url_of(self, state: Readiness) -> str | None:
        return (state.address or state.url) if self.invoke_address else (state.url or state.address)

    def _status(self, action: str, version: str, name: str, state: Readiness) -> FunctionStatus:
        message = "ready" if state.ready else f"{state.reason or 'NotReady'}: {state.message}".rstrip(": ")
        return FunctionStatus(
            action=action,
            version=version,
            ready=state.ready,
            url=self._url_of(state),
            message=message,
            details={"service": name, "namespace": self.options.namespace, "reason": state.reason},
        )

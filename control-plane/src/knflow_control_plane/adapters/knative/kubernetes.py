"""knflow's Kubernetes port, a thin layer over lightkube's async connection.

knflow touches a handful of kinds (Knative ``Service``, ``batch/v1`` ``Job``, ``Pod`` and its log,
``Secret``, ``ContainerSource``) through a handful of verbs, by REST path: :class:`KubeClient` is that
small surface, and its callers never see the library. lightkube (a maintained async client) does the
connection: the API server's address, its CA, the bearer token read from a file and read again when the
server answers 401 (projected ServiceAccount tokens rotate), TLS and connection pooling
(``bench/kube_client_bench.py`` measured it against knflow's former own client and raw lightkube verbs;
docs/deploy.md has the numbers and why lightkube rather than kr8s).

What knflow adds, in one place (:meth:`KubeClient._send`): every write carries ``fieldValidation=Strict``
(a field the schema does not know is an error, not silently pruned) and, when asked, ``dryRun=All``;
a 429 is waited out as its ``Retry-After`` says, a connection that could not be opened is tried again;
errors are translated at this edge: :class:`KubeApiError` carries the API's ``Status`` (code, reason,
message); :class:`KubeUnavailable` means the API server could not be reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import SingleConfig
from lightkube.config.models import Cluster, Context, User
from lightkube.core.exceptions import ConfigError

from ...errors import ControlPlaneError, Unavailable

__all__ = [
    "KubeApiError",
    "KubeClient",
    "KubeConfig",
    "KubeError",
    "KubeUnavailable",
    "resource_path",
    "wait_for",
]

#: Where a pod finds its ServiceAccount's credentials (Kubernetes' in-cluster contract).
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

Obj = dict[str, Any]
#: Seconds one watch request lasts before the server ends it and the watcher resumes.
_WATCH_SECONDS = 60


class KubeError(ControlPlaneError):
    """The Kubernetes API failed a request."""


class KubeUnavailable(KubeError, Unavailable):
    """The Kubernetes API server could not be reached."""


class KubeApiError(KubeError):
    """The Kubernetes API answered with an error ``Status``.

    Attributes:
        code: the HTTP status code (404, 409, 422, ...).
        reason: the Status reason (``NotFound``, ``AlreadyExists``, ``Invalid``, ``Forbidden``, ...).
        detail: the Status message alone (an admission webhook's words, say).
    """

    def __init__(self, message: str, *, code: int, reason: str, detail: str = ""):
        super().__init__(message, code=code, reason=reason)
        self.code = code
        self.reason = reason
        self.detail = detail or message


@dataclass(frozen=True)
class KubeConfig:
    """How to reach and authenticate to an API server.

    Attributes:
        url: ``https://host:port`` of the API server.
        token: a bearer token, or None to read ``token_file`` (or send none).
        token_file: a file holding the bearer token, read again when the server answers 401 (rotation).
        ca_file: the CA bundle that signed the server's certificate; None for the system's.
    """

    url: str
    token: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None

    @classmethod
    def in_cluster(cls, environ: Mapping[str, str] | None = None) -> KubeConfig:
        """The configuration of a pod: the API server's service env vars and the mounted ServiceAccount.

        Raises:
            KubeError: not running in a pod (no ``KUBERNETES_SERVICE_HOST``).
        """
        env = os.environ if environ is None else environ
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise KubeError("not in a Kubernetes pod: set KNFLOW_KUBE_URL to reach an API server")
        host = f"[{host}]" if ":" in host else host  # an IPv6 service address
        return cls(
            url=f"https://{host}:{port}",
            token_file=SERVICE_ACCOUNT_DIR / "token",
            ca_file=SERVICE_ACCOUNT_DIR / "ca.crt",
        )

    def lightkube(self) -> SingleConfig:
        """This configuration as lightkube's (one cluster, one user)."""
        ca = str(self.ca_file) if self.ca_file is not None else None
        token_file = str(self.token_file) if self.token_file is not None and not self.token else None
        user = User(token=self.token or None, token_file=token_file)
        cluster = Cluster(server=self.url, certificate_auth=ca)
        return SingleConfig(context_name="knflow", context=Context(cluster="knflow"), cluster=cluster, user=user)


def resource_path(api_version: str, plural: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a collection or an object.

    Args:
        api_version: ``v1`` (the core group) or ``group/version``.
        plural: the resource (``services``, ``jobs``, ``pods``).
        namespace: its namespace, None for cluster-scoped resources.
        name: the object's name, None for the collection.
    """
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    return f"{path}/{name}" if name is not None else path


class KubeClient:
    """The verbs knflow uses, each one HTTP request (a watch is one long one).

    Args:
        config: where the API server is and how to authenticate.
        timeout: seconds for one request (watches use their own server-side timeout).
        field_manager: the name under which this client's changes are recorded.
    """

    def __init__(self, config: KubeConfig, *, timeout: float = 30.0, field_manager: str = "knflow"):
        self.config = config
        self.field_manager = field_manager
        self._timeout = timeout
        params = client_adapter.ConnectionParams(timeout=httpx2.Timeout(timeout))
        try:
            self._http = client_adapter.AsyncClient(config.lightkube(), params)
        except (ConfigError, OSError) as exc:  # an unreadable CA bundle, say
            raise KubeError(f"the Kubernetes client cannot be configured: {exc}") from exc

    async def get(self, path: str) -> Obj:
        """The object at ``path``.

        Raises:
            KubeApiError: ``code`` 404 when it does not exist.
            KubeUnavailable: the server could not be reached.
        """
        return await self.request("GET", path)

    async def find(self, path: str) -> Obj | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return await self.get(path)
        except KubeApiError as exc:
            if exc.code == 404:
                return None
            raise

    async def list(self, path: str, *, label_selector: str | None = None) -> Obj:
        """A collection (``items`` and ``metadata.resourceVersion``), optionally filtered by labels."""
        params = {"labelSelector": label_selector} if label_selector else None
        return await self.request("GET", path, params=params)

    async def create(self, path: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Create ``obj`` in the collection at ``path`` and return it as stored.

        Raises:
            KubeApiError: ``code`` 409 (``AlreadyExists``), 422 (``Invalid``: the schema refused it), ...
        """
        return await self.request("POST", path, body=obj, params=self._write_params(dry_run))

    async def merge_patch(self, path: str, patch: Obj, *, subresource: str | None = None) -> Obj:
        """Apply a JSON merge patch (RFC 7386) to the object (or its ``status`` subresource)."""
        target = f"{path}/{subresource}" if subresource else path
        return await self.request(
            "PATCH", target, body=patch, content_type="application/merge-patch+json", params=self._write_params(False)
        )

    async def delete(self, path: str, *, propagation: str = "Background") -> bool:
        """Delete the object; False when it was already gone.

        Args:
            path: the object's path.
            propagation: ``Background``, ``Foreground`` or ``Orphan`` for its dependents (a Job's pods).
        """
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
        try:
            await self.request("DELETE", path, body=body)
        except KubeApiError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    async def text(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """A plain-text resource (a pod's ``log``)."""
        response = await self._send("GET", path, params=params)
        return response.text

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: int = 60,
    ) -> AsyncGenerator[Obj, None]:
        """The change events (``{"type", "object"}``) of a collection, from ``resource_version`` on.

        The server ends the watch after ``timeout_seconds``; a watch whose version is too old yields an
        ``ERROR`` event with a 410 ``Status``, after which the caller lists again.

        Raises:
            KubeApiError: the watch was refused (403, 404 of the collection, ...).
            KubeUnavailable: the connection failed.
        """
        params = {"watch": "1", "timeoutSeconds": str(timeout_seconds), "allowWatchBookmarks": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if field_selector:
            params["fieldSelector"] = field_selector
        if label_selector:
            params["labelSelector"] = label_selector
        # The server ends the stream: the client's read timeout must outlast it.
        timeout = httpx2.Timeout(self._timeout, read=timeout_seconds + 30.0)
        try:
            async with self._http.stream("GET", path, params=params, headers=_ACCEPT_JSON, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _api_error(response)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx2.TransportError as exc:
            raise KubeUnavailable(f"watch of {path} failed: {exc!r}") from exc
        except ConfigError as exc:  # the token file is gone
            raise KubeError(f"watch of {path}: {exc}") from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Obj | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        """One JSON request; the decoded reply.

        Raises:
            KubeApiError: the server answered with an error status.
            KubeUnavailable: the server could not be reached.
        """
        response = await self._send(method, path, body=body, params=params, content_type=content_type)
        result: Obj = response.json()
        return result

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Obj | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> httpx2.Response:
        """The one place a request is sent: throttling and transient failures handled, errors translated."""
        headers = dict(_ACCEPT_JSON)
        content = None
        if body is not None:
            headers["content-type"] = content_type
            content = json.dumps(body).encode()
        for attempt in range(1, _TRIES + 1):
            try:
                response = await self._http.request(method, path, params=params, content=content, headers=headers)
            except httpx2.ConnectError as exc:
                # The connection was refused or reset before the request went out (an API server restarting):
                # safe to send again whatever the verb, a few times, before calling the server unreachable. A
                # connect timeout is not retried: it has already waited the whole timeout.
                if attempt < _CONNECT_TRIES:
                    await asyncio.sleep(0.2 * attempt)
                    continue
                raise KubeUnavailable(f"{method} {path}: the Kubernetes API is unreachable: {exc!r}") from exc
            except httpx2.TransportError as exc:
                raise KubeUnavailable(f"{method} {path}: the Kubernetes API is unreachable: {exc!r}") from exc
            except ConfigError as exc:  # the token file is gone
                raise KubeError(f"{method} {path}: {exc}") from exc
            if response.status_code != 429 or attempt == _TRIES:
                break
            # 429: the API server is throttling, or a resource's storage is still initialising (a CRD just
            # established): wait as it says (Retry-After, in seconds) and ask again, as client-go does.
            await asyncio.sleep(_retry_after(response))
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    def _write_params(self, dry_run: bool) -> dict[str, str]:
        # Strict: a field the schema does not know is an error, not silently pruned (CRDs prune).
        params = {"fieldManager": self.field_manager, "fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        return params


_ACCEPT_JSON = {"accept": "application/json"}
#: Tries of one request the server throttles (429); of one whose connection could not be opened.
_TRIES = 10
_CONNECT_TRIES = 3


def _retry_after(response: httpx2.Response) -> float:
    """Seconds to wait before asking again after a 429 (``Retry-After``, capped; 1 s when absent)."""
    try:
        return min(10.0, max(0.1, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _api_error(response: httpx2.Response) -> KubeApiError:
    method, path = response.request.method, response.request.url.path
    try:
        status = response.json()
    except ValueError:
        status = {}
    if not isinstance(status, dict):
        status = {}
    message = str(status.get("message") or response.text[:500] or response.reason_phrase)
    reason = str(status.get("reason") or response.reason_phrase)
    return KubeApiError(
        f"{method} {path}: {response.status_code} {reason}: {message}",
        code=response.status_code,
        reason=reason,
        detail=message,
    )


async def wait_for(
    client: KubeClient, collection: str, current: Obj, done: Callable[[Obj], bool], timeout: float
) -> Obj:
    """Watch one object of ``collection`` from ``current`` on until ``done(object)``; the object then.

    A watch, not polling: each change arrives as it happens. Watches the server ends (after a minute)
    are resumed from the last version seen; a version too old to resume from (410) is read afresh.

    Raises:
        TimeoutError: ``done`` did not hold within ``timeout`` seconds.
        KubeError: the object was deleted meanwhile, or the API failed.
    """
    name = current["metadata"]["name"]
    path = f"{collection}/{name}"
    async with asyncio.timeout(timeout):
        while not done(current):
            events = client.watch(
                collection,
                resource_version=current["metadata"]["resourceVersion"],
                field_selector=f"metadata.name={name}",
                timeout_seconds=_WATCH_SECONDS,
            )
            async with contextlib.aclosing(events):
                async for event in events:
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":  # typically 410 Gone: resume from the present
                        current = await client.get(path)
                        break
                    if kind == "DELETED":
                        raise KubeError(f"{path} was deleted while waiting for it")
                    if kind == "BOOKMARK":
                        current["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
                    elif kind in ("ADDED", "MODIFIED"):
                        current = obj
                        if done(current):
                            break
    return current

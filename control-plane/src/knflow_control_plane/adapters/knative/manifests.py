"""Knative Services of action versions, rendered and read without I/O.

One deployed action version is one ``serving.knative.dev/v1`` Service. Its name comes from the action
and its version (stable, DNS-1035 safe, short enough for Knative's ``{name}-00001`` revisions); its
template carries the autoscaling annotations, ``containerConcurrency``, ``timeoutSeconds``, resources,
env, secrets and probes of the invoke contract (DESIGN.md sections 4 and 7). The function image listens
on ``$PORT``, which Knative sets from the one ``containerPort``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from knflow.spec import ActionSpec

API_VERSION = "serving.knative.dev/v1"
PLURAL = "services"
LABEL_ACTION = "knflow.dev/action"
LABEL_VERSION = "knflow.dev/version"
ANNOTATION_ACTION = "knflow.dev/action-name"
CONTAINER_PORT = 8080
#: Knative names revisions ``{service}-00001``: the service name leaves room for that in 63 characters.
MAX_NAME = 50
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_AUTOSCALING = "autoscaling.knative.dev/"
#: Knative's bound on ``scale-down-delay``
MAX_SCALE_DOWN_DELAY = 3600


@dataclass(frozen=True)
class KnativeOptions:
    """Settings of the knative backend that shape every Service (an action's options override some).

    Attributes:
        namespace: where functions live.
        cluster_local: label Services ``networking.knative.dev/visibility: cluster-local`` (no public route).
        min_scale: instances kept when idle; 0 scales to zero.
        scale_metric: ``concurrency`` or ``rps``.
        scale_down_delay: ``autoscaling.knative.dev/scale-down-delay`` (``"30s"``), None for Knative's.
        scale_to_zero_retention: ``scale-to-zero-pod-retention-period``, None for Knative's.
        max_request_seconds: the platform's request limit (Knative's max-revision-timeout-seconds).
        service_account: the ServiceAccount functions run as, None for the namespace's default.
        image_pull_secrets: secrets to pull function images with.
        env: environment variables set in every function (before the action's own).
        secrets_name: the Kubernetes Secret holding the project's secrets, one key each: an action's
            ``secrets=[...]`` become variables read from it (``valueFrom.secretKeyRef``).
    """

    namespace: str = "knflow-functions"
    cluster_local: bool = False
    min_scale: int = 0
    scale_metric: str = "concurrency"
    scale_down_delay: str | None = None
    scale_to_zero_retention: str | None = None
    max_request_seconds: int = 600
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    secrets_name: str = "knflow-secrets"


@dataclass(frozen=True)
class Readiness:
    """What a Service's status says about its rollout.

    Attributes:
        settled: the controller has seen the latest spec (``observedGeneration == generation``) and
            decided: Ready is ``True`` or ``False``.
        ready: Ready is ``True`` for the latest generation.
        reason: the Ready condition's reason (``RevisionFailed``, ...), empty when ready.
        message: the Ready condition's message.
        url: ``status.url``.
        address: ``status.address.url`` (the in-cluster address).
    """

    settled: bool
    ready: bool
    reason: str = ""
    message: str = ""
    url: str | None = None
    address: str | None = None


def slug(name: str) -> str:
    """A DNS-1035 label fragment of ``name``: lower case, ``-`` for anything else, starting with a letter."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not text or not text[0].isalpha():
        text = f"a-{text}".rstrip("-")
    return text


def object_name(action: str, version: str, *, prefix: str = "", limit: int = MAX_NAME) -> str:
    """A stable DNS-1035 name for an action version, at most ``limit`` characters.

    Two action names that slug alike (``My_Action``, ``my-action``) differ by a hash of the exact name,
    added whenever the slug is not the name itself.
    """
    base = slug(action)
    tag = "" if base == action else "-" + hashlib.sha256(action.encode()).hexdigest()[:6]
    suffix = f"{tag}-{version[:12]}"
    room = max(1, limit - len(prefix) - len(suffix))
    return f"{prefix}{base[:room].rstrip('-')}{suffix}"


def service_name(action: str, version: str) -> str:
    """The Knative Service name of an action version."""
    return object_name(action, version)


def repository_name(action: str) -> str:
    """The image repository path component of an action: its slug, at least two characters (image
    reference parsers, Knative's and Kaniko's among them, refuse a one-character repository)."""
    base = slug(action)
    return base if len(base) >= 2 else f"{base}-{hashlib.sha256(action.encode()).hexdigest()[:6]}"


def placeholder_image(action: str) -> str:
    """An image reference by digest that no registry serves, for dry runs (``preflight``) before a build."""
    return f"preflight.knflow.invalid/{repository_name(action)}@sha256:{'0' * 64}"


def label_value(text: str) -> str:
    """``text`` if Kubernetes accepts it as a label value, else its slug (63 characters at most)."""
    return text if len(text) <= 63 and _LABEL_VALUE.match(text) else slug(text)[:63].rstrip("-")


def labels(action: str, version: str, component: str) -> dict[str, str]:
    """The labels of every object made for an action version (``app.kubernetes.io/*`` and knflow's)."""
    return {
        "app.kubernetes.io/name": label_value(action),
        "app.kubernetes.io/instance": object_name(action, version),
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "knflow",
        "app.kubernetes.io/managed-by": "knflow",
        LABEL_ACTION: label_value(action),
        LABEL_VERSION: version,
    }


def render_service(action: ActionSpec, image: str, options: KnativeOptions) -> dict[str, Any]:
    """The Knative Service running ``image`` for ``action``.

    Args:
        action: the action version (its options give scale, concurrency, timeout, resources, env, secrets).
        image: the built image, by digest (``registry/name@sha256:...``).
        options: the backend's settings.
    """
    opts = action.options
    concurrency = int(opts.get("concurrency") or 1)
    meta_labels = labels(action.name, action.version, "function")
    if options.cluster_local:
        meta_labels["networking.knative.dev/visibility"] = "cluster-local"
    pod: dict[str, Any] = {
        "containerConcurrency": concurrency,
        "timeoutSeconds": timeout_seconds(float(opts.get("timeout") or 300), options.max_request_seconds),
        "containers": [_container(action, image, concurrency, options)],
    }
    if options.service_account:
        pod["serviceAccountName"] = options.service_account
    if options.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in options.image_pull_secrets]
    return {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": {
            "name": service_name(action.name, action.version),
            "namespace": options.namespace,
            "labels": meta_labels,
            "annotations": {ANNOTATION_ACTION: action.name},
        },
        "spec": {
            "template": {
                "metadata": {
                    "labels": labels(action.name, action.version, "function"),
                    "annotations": autoscaling_annotations(action, options),
                },
                "spec": pod,
            }
        },
    }


def autoscaling_annotations(action: ActionSpec, options: KnativeOptions) -> dict[str, str]:
    """``autoscaling.knative.dev/*`` of the revision template: the backend's defaults, then the action's.

    ``max-scale`` is the action's ``max_instances``, ``target`` its ``target`` (else its ``concurrency``).
    ``min_scale``, ``scale_metric``, ``scale_down_delay`` and ``scale_to_zero_retention`` are read from
    the action's options when it has them, else from the backend's settings; a long action (async reply
    mode) without its own ``scale_down_delay`` gets its timeout as one (:func:`long_action_delay`).
    """
    opts = action.options
    concurrency = int(opts.get("concurrency") or 1)
    annotations = {
        "min-scale": str(int(opts.get("min_scale", options.min_scale))),
        "max-scale": str(int(opts.get("max_instances") or 1)),
        "target": str(int(opts.get("target") or concurrency)),
        "metric": str(opts.get("scale_metric") or options.scale_metric),
    }
    delay = _duration(opts.get("scale_down_delay")) or long_action_delay(action, options) or options.scale_down_delay
    if delay:
        annotations["scale-down-delay"] = delay
    retention = _duration(opts.get("scale_to_zero_retention")) or options.scale_to_zero_retention
    if retention:
        annotations["scale-to-zero-pod-retention-period"] = retention
    return {_AUTOSCALING + k: v for k, v in annotations.items()}


def _duration(value: Any) -> str | None:
    """A Go duration (Knative's annotations) from an action option: seconds from the SDK, or text."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}s"
    return str(value)


def is_long(action: ActionSpec, options: KnativeOptions) -> bool:
    """Whether ``action`` may outlast a request (its timeout is over the platform's limit): it is then
    invoked in async reply mode, and its pods must outlive the request that started the work."""
    return float(action.options.get("timeout") or 300) > options.max_request_seconds


def long_action_delay(action: ActionSpec, options: KnativeOptions) -> str | None:
    """The ``scale-down-delay`` a long action needs when it sets none: its timeout (at most Knative's 1h).

    After the 202 the autoscaler sees no request in flight and would scale the pod away mid-action;
    the delay keeps it for the action's length (the best Knative offers: see docs/deploy.md).
    """
    if not is_long(action, options):
        return None
    return f"{min(MAX_SCALE_DOWN_DELAY, math.ceil(float(action.options.get('timeout') or 300)))}s"


def timeout_seconds(action_timeout: float, limit: int) -> int:
    """``timeoutSeconds`` of a revision: the action's timeout, whole seconds, capped by the platform's.

    An action longer than the cap answers 202 and replies through its callback (async reply mode), so
    the request itself never needs more than the cap.
    """
    return max(1, min(math.ceil(action_timeout), limit))


def _container(action: ActionSpec, image: str, concurrency: int, options: KnativeOptions) -> dict[str, Any]:
    opts = action.options
    env = {
        **options.env,
        **{str(k): str(v) for k, v in dict(opts.get("env") or {}).items()},
        # knflow's own last: an action's env must not point the runtime at another entrypoint.
        "KNFLOW_ACTION": action.entrypoint,
        "KNFLOW_CONCURRENCY": str(concurrency),
    }
    if is_long(action, options):
        # On SIGTERM the runtime finishes what it runs, within the pod's grace period (Knative sets
        # it to timeoutSeconds): the runtime's own 30 s default would cut a long action short.
        env["KNFLOW_DRAIN_SECONDS"] = str(options.max_request_seconds)
    container: dict[str, Any] = {
        "name": "function",
        "image": image,
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT}],
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "readinessProbe": {"httpGet": {"path": "/health/readiness"}},
        "livenessProbe": {"httpGet": {"path": "/health/liveness"}},
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    # A function of another project than the plane's default (``project.action``) reads its own project's Secret.
    project, qualified, _ = action.name.partition(".")
    secrets_name = f"knflow-secrets-{project}" if qualified else options.secrets_name
    for secret in sorted(str(s) for s in opts.get("secrets") or ()):
        ref = {"name": secrets_name, "key": secret}
        container["env"].append({"name": secret, "valueFrom": {"secretKeyRef": ref}})
    resources = resources_of(opts)
    if resources:
        container["resources"] = resources
    return container


def resources_of(opts: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Requests and limits from an action's ``cpu``, ``memory`` and ``gpu`` options.

    CPU is requested, not limited (a CPU limit throttles a function that could burst on an idle node);
    memory is both, so that the scheduler's view matches what the kernel enforces; GPUs are limits, as
    extended resources require.
    """
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if opts.get("cpu"):
        requests["cpu"] = str(opts["cpu"])
    if opts.get("memory"):
        requests["memory"] = limits["memory"] = str(opts["memory"])
    if int(opts.get("gpu") or 0) > 0:
        limits["nvidia.com/gpu"] = str(int(opts["gpu"]))
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def readiness(service: dict[str, Any]) -> Readiness:
    """Read a Service's rollout state from its ``metadata.generation`` and ``status``."""
    status = service.get("status") or {}
    generation = (service.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    url = status.get("url")
    address = (status.get("address") or {}).get("url")
    conditions = {c.get("type"): c for c in status.get("conditions") or ()}
    ready = conditions.get("Ready")
    if ready is None or generation is None or observed != generation:
        return Readiness(settled=False, ready=False, url=url, address=address)
    state = ready.get("status")
    message = str(ready.get("message") or "")
    # Knative's Ready=False says "Configuration ... does not have any ready Revision"; the why (the
    # revision's own reason: "no nodes available to schedule pods", an image pull back-off) is in
    # ConfigurationsReady.
    configured = conditions.get("ConfigurationsReady") or {}
    if state == "False" and configured.get("status") == "False" and configured.get("message") not in (None, message):
        message = f"{message} {configured['message']}".strip()
    return Readiness(
        settled=state in ("True", "False"),
        ready=state == "True",
        reason=str(ready.get("reason") or ""),
        message=message,
        url=url,
        address=address,
    )

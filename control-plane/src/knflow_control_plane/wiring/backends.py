"""Which functions backend, builder and custom-trigger runner a replica uses, from its settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidRequest
from ..observability.metrics import BackendStats
from ..ports import Builder, FunctionBackend, SecretValues, SourceRunner
from ..ports.objects import ObjectStore
from ..service.secrets import Secrets
from ..settings import Settings

if TYPE_CHECKING:
    from ..adapters.knative.kubernetes import KubeClient


def function_backend(settings: Settings, secrets: Secrets) -> tuple[FunctionBackend, BackendStats | None]:
    """The backend ``KNFLOW_BACKEND`` names, with its stats when it keeps any; it gets the secrets it mirrors.

    Raises:
        InvalidRequest: an unknown backend.
    """
    if settings.backend == "local":
        from ..adapters.local.backend import LocalBackend

        local = LocalBackend(settings.state_dir / "functions", idle_timeout=settings.idle_timeout)
        local.use_secrets(secrets.values)
        return local, local.stats
    if settings.backend == "knative":
        from ..adapters.knative.backend import KnativeBackend
        from ..adapters.knative.manifests import KnativeOptions

        options = KnativeOptions(
            namespace=settings.functions_namespace,
            cluster_local=settings.knative_visibility == "cluster-local",
            min_scale=settings.knative_min_scale,
            scale_metric=settings.knative_scale_metric,
            scale_down_delay=settings.knative_scale_down_delay,
            scale_to_zero_retention=settings.knative_scale_to_zero_retention,
            max_request_seconds=settings.knative_max_request_seconds,
            service_account=settings.knative_service_account,
            image_pull_secrets=(settings.knative_image_pull_secret,) if settings.knative_image_pull_secret else (),
            secrets_name=f"knflow-secrets-{settings.project}",
        )
        from ..adapters.knative.secrets import KubeSecretMirror

        invoke_address = settings.knative_invoke == "address"
        kube = kube_client(settings)
        knative = KnativeBackend(
            kube,
            options,
            invoke_address=invoke_address,
            ready_timeout=settings.knative_ready_timeout,
            gateway=settings.knative_gateway,
        )
        # PUT/DELETE /v1/secrets write the functions' Secret; a deploy copies the action's secrets again.
        secrets.mirror = KubeSecretMirror(kube, options.namespace, options.secrets_name)
        knative.use_secrets(secrets.sync)
        return knative, None
    raise InvalidRequest(
        f"unknown backend {settings.backend!r} (expected 'local' or 'knative')", field="KNFLOW_BACKEND"
    )


def source_runner(settings: Settings, secrets: SecretValues) -> SourceRunner:
    """Where custom triggers run: local processes, or Knative ContainerSources."""
    if settings.backend == "knative":
        from ..adapters.knative.sources import KnativeSources

        return KnativeSources(kube_client(settings), settings.functions_namespace)
    from ..adapters.local.sources import LocalSources

    local = LocalSources(settings.state_dir / "triggers")
    local.secret_values = secrets
    return local


def kube_client(settings: Settings) -> KubeClient:
    """A Kubernetes client: the in-cluster service account, or ``KNFLOW_KUBE_URL`` and its token and CA."""
    from ..adapters.knative.kubernetes import KubeClient, KubeConfig

    if not settings.kube_url:
        return KubeClient(KubeConfig.in_cluster())
    config = KubeConfig(url=settings.kube_url, token_file=settings.kube_token_file, ca_file=settings.kube_ca_file)
    return KubeClient(config)


def function_builder(settings: Settings, objects: ObjectStore) -> Builder:
    """The builder ``KNFLOW_BUILDER`` names (kaniko reads its build contexts from ``objects``).

    Raises:
        InvalidRequest: an unknown builder, or kaniko without an S3 object store.
    """
    if settings.builder == "venv":
        from ..adapters.local.venv import VenvBuilder

        return VenvBuilder(settings.state_dir / "builds")
    if settings.builder == "kaniko":
        from ..adapters.knative.kaniko import KanikoBuilder
        from ..adapters.knative.kaniko_manifests import KanikoOptions

        location = settings.resolved_object_store
        if not location.startswith("s3://"):
            message = "the kaniko builder reads build contexts from S3: set KNFLOW_OBJECT_STORE=s3://bucket[/prefix]"
            raise InvalidRequest(message, field="KNFLOW_OBJECT_STORE")
        options = KanikoOptions(
            namespace=settings.functions_namespace,
            image=settings.kaniko_image,
            registry=settings.registry,
            base_image=settings.runtime_image,
            cache_repo=settings.kaniko_cache_repo,
            registry_secret=settings.kaniko_registry_secret,
            s3_secret=settings.kaniko_s3_secret,
            s3_endpoint=settings.kaniko_s3_endpoint or settings.s3_endpoint,
            s3_region=settings.s3_region,
            insecure_registry=settings.kaniko_insecure_registry,
            timeout=settings.kaniko_timeout,
        )
        return KanikoBuilder(kube_client(settings), objects, location, options)
    raise InvalidRequest(f"unknown builder {settings.builder!r} (expected 'venv' or 'kaniko')", field="KNFLOW_BUILDER")

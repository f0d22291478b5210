"""Helpers of the tests against the real API servers of ``scripts/services/kube.sh`` (CRDs only) and
``scripts/services/knative.sh`` (a real Knative Serving): clients by token, ``kubectl`` runs, and
``manifests/base`` applied once per test process and cluster."""

from __future__ import annotations

import subprocess
from pathlib import Path

from knflow_control_plane.adapters.knative.kubernetes import KubeClient, KubeConfig
from tests.services import knative_env, kube_env

ROOT = Path(__file__).resolve().parents[1]
_applied: set[str] = set()


def client(token_file: str, *, knative: bool = False) -> KubeClient:
    """A client of the test API server (the real Knative one when ``knative``) authenticated by the token
    in ``token_file``."""
    if knative:
        env = knative_env()
        url, ca = env["KNFLOW_TEST_KNATIVE_URL"], env["KNFLOW_TEST_KNATIVE_CA_FILE"]
    else:
        env = kube_env()
        url, ca = env["KNFLOW_TEST_KUBE_URL"], env["KNFLOW_TEST_KUBE_CA_FILE"]
    return KubeClient(KubeConfig(url=url, token_file=Path(token_file), ca_file=Path(ca)), field_manager="knflow-test")


def _kubeconfig(knative: bool) -> str:
    return knative_env()["KNFLOW_TEST_KNATIVE_KUBECONFIG"] if knative else kube_env()["KNFLOW_TEST_KUBECONFIG"]


def kubectl(*args: str, stdin: str | None = None, check: bool = True, knative: bool = False) -> str:
    """``kubectl args...`` as the admin of the test API server (the real Knative one when ``knative``)."""
    command = [kube_env()["KNFLOW_TEST_KUBECTL"], "--kubeconfig", _kubeconfig(knative), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, check=check).stdout


def kubectl_apply(
    rendered: str, *flags: str, check: bool = True, knative: bool = False
) -> subprocess.CompletedProcess[str]:
    """``kubectl apply --server-side`` of ``rendered`` YAML as the admin (``flags`` e.g. ``--dry-run=server``)."""
    command = [
        kube_env()["KNFLOW_TEST_KUBECTL"],
        "--kubeconfig",
        _kubeconfig(knative),
        "apply",
        "--server-side",
        "--force-conflicts",
        *flags,
        "--field-manager=knflow-test",
        "-f",
        "-",
    ]
    return subprocess.run(command, input=rendered, capture_output=True, text=True, check=check)


def kustomize(path: Path) -> str:
    """``kubectl kustomize path``: the rendered YAML."""
    command = [kube_env()["KNFLOW_TEST_KUBECTL"], "kustomize", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def apply_base(*, knative: bool = False) -> None:
    """Apply the rendered ``manifests/base`` (namespaces, ServiceAccount, RBAC, ...), once per process and
    cluster."""
    key = "knative" if knative else "kube"
    if key not in _applied:
        kubectl_apply(kustomize(ROOT / "manifests" / "base"), knative=knative)
        _applied.add(key)

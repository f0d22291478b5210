"""Helpers of the tests against the real API server of ``scripts/services/kube.sh``: clients by token,
``kubectl`` runs, and ``manifests/base`` applied once per test process."""

from __future__ import annotations

import subprocess
from pathlib import Path

from knflow_control_plane.adapters.kubernetes import KubeClient, KubeConfig
from tests.services import kube_env

ROOT = Path(__file__).resolve().parents[1]
_applied = False


def client(token_file: str) -> KubeClient:
    """A client of the test API server authenticated by the token in ``token_file``."""
    env = kube_env()
    config = KubeConfig(
        url=env["KNFLOW_TEST_KUBE_URL"], token_file=Path(token_file), ca_file=Path(env["KNFLOW_TEST_KUBE_CA_FILE"])
    )
    return KubeClient(config, field_manager="knflow-test")


def kubectl_apply(rendered: str, *flags: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``kubectl apply --server-side`` of ``rendered`` YAML as the admin (``flags`` e.g. ``--dry-run=server``)."""
    env = kube_env()
    command = [
        env["KNFLOW_TEST_KUBECTL"],
        "--kubeconfig",
        env["KNFLOW_TEST_KUBECONFIG"],
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


def apply_base() -> None:
    """Apply the rendered ``manifests/base`` (namespaces, ServiceAccount, RBAC, ...), once per process."""
    global _applied
    if not _applied:
        kubectl_apply(kustomize(ROOT / "manifests" / "base"))
        _applied = True

"""knflow's Kubernetes adapter (a thin layer over lightkube) against lightkube's own verbs, on a real API server.

    .venv/bin/python bench/kube_client_bench.py [--quick] [--json rows.json]

The cluster of ``scripts/services/knative.sh`` (a real kube-apiserver with a node, so that a pod's log
is read through the kubelet as knflow reads a build's): each client, in turn on the same objects of a
namespace of its own, gets and merge-patches a Service, opens a watch on it and reads its first event,
creates a suspended Job and deletes it, and reads a finished pod's log. Per operation: median and p99
latency, and the CPU the client's process spent on it. Per client, in a fresh interpreter: the import
of the client (the module and, for lightkube, the resource models used) and the peak RSS after one
request. The clients' own work only differs; the API server's is the same for both.

Both sides run on lightkube's connection (its httpx2 client, auth, TLS): "knflow" is
``adapters/knative/kubernetes.py`` as the control plane uses it (REST paths, dicts, ``fieldValidation=Strict``
on writes, the 429 and connect-retry loop), "lightkube" its typed verbs used directly. The row is the
price of knflow's layer. knflow's former own client (httpx, 375 lines) is not kept here as a baseline:
its numbers against lightkube, measured the same way before the move, are in docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import arguments, emit, p50_p99, row
from tests.services import knative_env

NAMESPACE = "knflow-bench"
SERVICE = "bench-svc"
POD = "bench-logs"
CLIENTS = ("knflow", "lightkube")
RUN = f"{os.getpid()}-{int(time.time()) % 100000}"  # Job names of this run (deletes complete later)
Op = Callable[[int], Awaitable[object]]


def _service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }


def _labels(i: int) -> dict[str, Any]:
    return {"metadata": {"labels": {"n": str(i + 100)}}}  # warm-up calls pass -1..-3


def _job(name: str) -> dict[str, Any]:
    container = {"name": "main", "image": "bench.invalid/none@sha256:" + "0" * 64}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}},
    }


def _pod(image: str) -> dict[str, Any]:
    # A finished pod with a log of 200 lines: what a build pod leaves behind.
    command = ["/opt/knflow/bin/python", "-c", "for i in range(200): print('build step', i, 'x' * 60)"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": NAMESPACE},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image, "command": command}]},
    }


def knflow_ops() -> tuple[dict[str, Op], Callable[[], Awaitable[None]]]:
    """The operations through knflow's ``KubeClient`` (the adapter over lightkube), and how to close it."""
    from knflow_control_plane.adapters.knative.kubernetes import KubeClient, KubeConfig, resource_path

    env = knative_env()
    config = KubeConfig(
        url=env["KNFLOW_TEST_KNATIVE_URL"],
        token_file=Path(env["KNFLOW_TEST_KNATIVE_TOKEN_FILE"]),
        ca_file=Path(env["KNFLOW_TEST_KNATIVE_CA_FILE"]),
    )
    kube = KubeClient(config)
    services = resource_path("v1", "services", NAMESPACE)
    jobs = resource_path("batch/v1", "jobs", NAMESPACE)

    async def watch(_: int) -> object:
        events = kube.watch(services, field_selector=f"metadata.name={SERVICE}", timeout_seconds=5)
        try:
            return await anext(events)
        finally:
            await events.aclose()

    async def create_job(i: int) -> object:
        created = await kube.create(jobs, _job(f"bench-k-{RUN}-{i + 100}"))
        await kube.delete(f"{jobs}/bench-k-{RUN}-{i + 100}")
        return created

    ops: dict[str, Op] = {
        "get Service": lambda _: kube.get(f"{services}/{SERVICE}"),
        "merge-patch Service": lambda i: kube.merge_patch(f"{services}/{SERVICE}", _labels(i)),
        "watch Service (first event)": watch,
        "create + delete Job": create_job,
        "read pod log (200 lines)": lambda _: kube.text(f"{resource_path('v1', 'pods', NAMESPACE, POD)}/log"),
    }
    return ops, kube.close


def lightkube_ops() -> tuple[dict[str, Op], Callable[[], Awaitable[None]]]:
    """The same operations through lightkube's ``AsyncClient`` used directly (typed resources, dicts for
    bodies)."""
    from lightkube import AsyncClient, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.resources.batch_v1 import Job
    from lightkube.resources.core_v1 import Service
    from lightkube.types import PatchType

    kube = AsyncClient(KubeConfig.from_file(knative_env()["KNFLOW_TEST_KNATIVE_KUBECONFIG"]), namespace=NAMESPACE)

    async def lines(_: int) -> object:
        return [line async for line in kube.log(POD, namespace=NAMESPACE)]

    async def watch(_: int) -> object:
        events = kube.watch(Service, namespace=NAMESPACE, fields={"metadata.name": SERVICE})
        try:
            return await anext(aiter(events))
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def create_job(i: int) -> object:
        created = await kube.create(from_dict(_job(f"bench-l-{RUN}-{i + 100}")))
        await kube.delete(Job, f"bench-l-{RUN}-{i + 100}", namespace=NAMESPACE)
        return created

    ops: dict[str, Op] = {
        "get Service": lambda _: kube.get(Service, SERVICE, namespace=NAMESPACE),
        "merge-patch Service": lambda i: kube.patch(
            Service, SERVICE, _labels(i), namespace=NAMESPACE, patch_type=PatchType.MERGE
        ),
        "watch Service (first event)": watch,
        "create + delete Job": create_job,
        "read pod log (200 lines)": lines,
    }
    return ops, kube.close


async def _setup() -> None:
    """The namespace, the Service and the finished pod, made once with knflow's adapter."""
    from knflow_control_plane.adapters.knative.kubernetes import KubeApiError, KubeClient, KubeConfig, resource_path

    env = knative_env()
    config = KubeConfig(
        url=env["KNFLOW_TEST_KNATIVE_URL"],
        token_file=Path(env["KNFLOW_TEST_KNATIVE_TOKEN_FILE"]),
        ca_file=Path(env["KNFLOW_TEST_KNATIVE_CA_FILE"]),
    )
    kube = KubeClient(config)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    image = _runtime_image(env)
    for path, obj in (
        (resource_path("v1", "namespaces"), namespace),
        (resource_path("v1", "services", NAMESPACE), _service()),
        (resource_path("v1", "pods", NAMESPACE), _pod(image)),
    ):
        try:
            await kube.create(path, obj)
        except KubeApiError as exc:
            if exc.code != 409:
                raise
    pod = resource_path("v1", "pods", NAMESPACE, POD)
    for _ in range(240):
        if (await kube.get(pod)).get("status", {}).get("phase") == "Succeeded":
            break
        await asyncio.sleep(0.5)
    else:
        raise SystemExit(f"the pod {NAMESPACE}/{POD} did not finish: {(await kube.get(pod)).get('status')}")
    await kube.close()


def _runtime_image(env: dict[str, str]) -> str:
    script = Path(__file__).resolve().parents[1] / "scripts" / "services" / "knative" / "images.sh"
    done = subprocess.run(
        ["bash", str(script), "runtime", env["KNFLOW_TEST_KNATIVE_REGISTRY_PUSH"]],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{env['KNFLOW_TEST_KNATIVE_REGISTRY']}/{done.stdout.strip().splitlines()[-1].partition('/')[2]}"


async def _measure(ops: dict[str, Op], samples: int) -> dict[str, tuple[list[float], float]]:
    """Each client's latencies (ms) of ``samples`` calls after a warm-up, and its CPU ms per call. The
    clients take turns call by call, first one then the other, so that the machine's noise (shared,
    2 cores) falls on both alike."""
    for op in ops.values():
        for i in range(3):
            await op(-1 - i)
    times: dict[str, list[float]] = {name: [] for name in ops}
    cpu = dict.fromkeys(ops, 0.0)
    order = list(ops)
    for i in range(samples):
        for name in order if i % 2 else reversed(order):
            cpu_started, started = time.process_time(), time.perf_counter()
            await ops[name](i)
            times[name].append((time.perf_counter() - started) * 1000)
            cpu[name] += time.process_time() - cpu_started
    return {name: (times[name], cpu[name] * 1000 / samples) for name in ops}


async def latencies(samples: int) -> list[dict[str, Any]]:
    """One row per operation and client."""
    await _setup()
    clients = {"knflow": knflow_ops(), "lightkube": lightkube_ops()}
    rows = []
    try:
        for op in clients["knflow"][0]:
            measured = await _measure({client: ops[op] for client, (ops, _) in clients.items()}, samples)
            for client, (times, cpu_ms) in measured.items():
                rows.append(row(f"kube {op}", client, **p50_p99(times), detail=f"CPU {cpu_ms:.2f} ms/op"))
    finally:
        for _, close in clients.values():
            await close()
    return rows


CHILD = """
import json, sys, time, asyncio
started = time.perf_counter()
sys.path.insert(0, {root!r})
if {client!r} == "knflow":
    from bench.kube_client_bench import knflow_ops as make
    import knflow_control_plane.adapters.knative.kubernetes
else:
    from bench.kube_client_bench import lightkube_ops as make
    import lightkube, lightkube.resources.core_v1, lightkube.resources.batch_v1, lightkube.codecs
imported = time.perf_counter() - started
async def main():
    ops, close = make()
    await ops["get Service"](0)
    await close()
asyncio.run(main())
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({{"import_ms": imported * 1000, "rss_mb": rss}}))
"""


def footprint(runs: int) -> list[dict[str, Any]]:
    """Import time and peak RSS of each client in fresh interpreters (medians of ``runs``)."""
    root = str(Path(__file__).resolve().parents[1])
    rows = []
    for client in CLIENTS:
        samples = [
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", CHILD.format(root=root, client=client)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            for _ in range(runs)
        ]
        imports = statistics.median(s["import_ms"] for s in samples)
        rss = statistics.median(s["rss_mb"] for s in samples)
        rows.append(
            row("kube client import + 1 GET", client, p50_ms=imports, peak_rss_mb=rss, detail="import ms; peak RSS")
        )
    return rows


def main() -> None:
    """Run the comparison and write the rows."""
    args = arguments(__doc__)
    rows = asyncio.run(latencies(20 if args.quick else 200))
    rows += footprint(3 if args.quick else 7)
    emit(rows, args.json)


if __name__ == "__main__":
    main()

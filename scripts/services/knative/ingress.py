"""The test cluster's ingress: the one part of Knative's data plane that is not Knative's own.

Knative leaves routing to an ingress implementation (Kourier, Istio, Contour), none of which can be built
here. This stands in for one, the way they work: it marks each ``networking.internal.knative.dev``
Ingress ready (a load balancer named ``knflow-test-ingress``) and routes an HTTP request by its Host to
the Ingress rule's split, appending the rule's headers (``Knative-Serving-Revision``, ...), to an address
of the split's Service's Endpoints, which Knative's own ServerlessService reconciler writes: the
activator's while the revision is scaled to zero (or in proxy mode), its pods' queue-proxy otherwise.
Given a third argument (the node's address on the pods' bridge) it also stands in for CoreDNS and
kube-proxy there: ``cluster_dns`` resolves every ``*.svc[.cluster.local]`` name to that address, whose
port 80 routes a Service's name to its Endpoints (how the autoscaler reaches a revision's public Service
to learn that the activator is on the path, before it scales to zero).
Runs inside the cluster's network namespace; standard library only.

    ingress.py HOST:PORT KUBECONFIG [SERVICES_IP]
"""

from __future__ import annotations

import http.client
import http.server
import json
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import cluster_dns

INGRESSES = "/apis/networking.internal.knative.dev/v1alpha1/ingresses"
LB = {"ingress": [{"domainInternal": "knflow-test-ingress"}]}
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


class Api:
    """GET and merge-PATCH against the API server of a kubeconfig (server, CA file, bearer token)."""

    def __init__(self, kubeconfig: str):
        with open(kubeconfig) as file:
            text = file.read()
        self.server = _field(text, "server")
        self.token = _field(text, "token")
        self.context = ssl.create_default_context(cafile=_field(text, "certificate-authority"))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/merge-patch+json"}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, headers=headers, method=method)  # noqa: S310
        with urllib.request.urlopen(request, context=self.context, timeout=10) as reply:  # noqa: S310
            return json.load(reply)


def _field(kubeconfig: str, name: str) -> str:
    # kube.sh's kubeconfig writes each of these once, as `name: "value"` or `name: value` in flow maps.
    for part in kubeconfig.replace("{", ",").replace("}", ",").replace("\n", ",").split(","):
        key, _, value = part.strip().partition(":")
        if key.strip() == name:
            return value.strip().strip('"')
    raise SystemExit(f"no {name} in the kubeconfig")


def mark_ready(api: Api) -> None:
    """Mark every Ingress of the current generation ready, as an ingress controller does once routed."""
    for item in api.call("GET", INGRESSES)["items"]:
        meta, status = item["metadata"], item.get("status") or {}
        if status.get("observedGeneration") == meta["generation"]:
            continue
        conditions = [
            {"type": kind, "status": "True", "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            for kind in ("LoadBalancerReady", "NetworkConfigured", "Ready")
        ]
        patch = {
            "status": {
                "observedGeneration": meta["generation"],
                "conditions": conditions,
                "publicLoadBalancer": LB,
                "privateLoadBalancer": LB,
            }
        }
        api.call("PATCH", f"{INGRESSES[:-10]}/namespaces/{meta['namespace']}/ingresses/{meta['name']}/status", patch)


def route(api: Api, host: str) -> tuple[str, int, dict[str, str]] | None:
    """The address, port and headers to add for a request to ``host``, or None when nothing has it: an
    Ingress rule's host first, else a Service's own name (``NAME.NAMESPACE.svc[.cluster.local]``, what
    kube-proxy would route by its ClusterIP, reached here through ``cluster_dns``)."""
    host = host.split(":", maxsplit=1)[0]
    for item in api.call("GET", INGRESSES)["items"]:
        for rule in item["spec"].get("rules") or ():
            if host not in rule.get("hosts", ()):
                continue
            for path in rule["http"]["paths"]:
                split = max(path["splits"], key=lambda s: s.get("percent", 0))
                headers = {**(path.get("appendHeaders") or {}), **(split.get("appendHeaders") or {})}
                target = _endpoint(api, split["serviceNamespace"], split["serviceName"])
                return (*target, headers) if target else None
    name, _, rest = host.partition(".")
    namespace, _, suffix = rest.partition(".")
    if suffix in ("svc", "svc.cluster.local"):
        target = _endpoint(api, namespace, name)
        return (*target, {}) if target else None
    return None


def _endpoint(api: Api, namespace: str, service: str) -> tuple[str, int] | None:
    """The first ready address of a Service's Endpoints and its ``http`` port."""
    try:
        endpoints = api.call("GET", f"/api/v1/namespaces/{namespace}/endpoints/{service}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    for subset in endpoints.get("subsets") or ():
        port = next((p["port"] for p in subset["ports"] if p.get("name") == "http"), subset["ports"][0]["port"])
        for address in subset.get("addresses") or ():
            return address["ip"], int(port)
    return None


def serve(address: str, api: Api) -> None:
    """Proxy HTTP requests by Host until killed."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            sys.stderr.write("ingress: " + fmt % args + "\n")

        def _proxy(self) -> None:
            target = route(api, self.headers.get("Host", ""))
            if target is None:
                # Its own health only for a host it does not route: http.server turns the autoscaler's
                # probe of "//healthz" into "/healthz".
                self._answer(*((200, b"ok") if self.path == "/healthz" else (404, b"no route for this host")))
                return
            ip, port, extra = target
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            headers.update(extra)
            upstream = http.client.HTTPConnection(ip, port, timeout=900)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
            except OSError as exc:
                self._answer(502, f"upstream {ip}:{port}: {exc}".encode())
                return
            finally:
                upstream.close()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, status: int, text: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _proxy  # noqa: N815 (http.server's names)

    host, _, port = address.rpartition(":")
    http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


def main(argv: list[str]) -> None:
    """Serve on ``argv[0]`` and keep the Ingresses of the kubeconfig ``argv[1]``'s cluster ready; with
    ``argv[2]`` (an address), also be the cluster's DNS on its port 53 and its Services on its port 80."""
    api = Api(argv[1])
    if len(argv) > 2:
        cluster_dns.serve(f"{argv[2]}:53", argv[2])
        threading.Thread(target=serve, args=(f"{argv[2]}:80", api), daemon=True).start()

    def reconcile() -> None:
        while True:
            try:
                mark_ready(api)
            except Exception as exc:  # noqa: BLE001 (the API server restarting: try again)
                sys.stderr.write(f"ingress: {exc!r}\n")
            time.sleep(0.5)

    threading.Thread(target=reconcile, daemon=True).start()
    serve(argv[0], api)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The test cluster's DNS, the smallest that Knative's data plane needs: every name under ``.svc`` or
``.svc.cluster.local`` resolves to one address, the test ingress's service proxy (``ingress.py``), which
then routes by the Host header to the Service's Endpoints as kube-proxy would route its ClusterIP.

A real cluster has CoreDNS and kube-proxy; neither runs here. What needs it: the autoscaler probes a
revision's public Service (``http://REVISION.NAMESPACE.svc.cluster.local/healthz``) to learn that the
activator is on the path before it scales to zero. Standard library only; A records over UDP, AAAA and
other types answered empty, anything else NXDOMAIN.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading

SUFFIXES = (".svc", ".svc.cluster.local")
TYPE_A, CLASS_IN = 1, 1
TTL = 5


def _question(packet: bytes) -> tuple[str, int, int, int]:
    """The queried name, its type, class, and where the question section ends."""
    labels, at = [], 12
    while packet[at]:
        length = packet[at]
        labels.append(packet[at + 1 : at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[at + 1 : at + 5])
    return ".".join(labels).lower(), qtype, qclass, at + 5


def answer(packet: bytes, address: str) -> bytes:
    """The reply to one query: ``address`` for a cluster Service's name."""
    ident, flags = struct.unpack("!HH", packet[:4])
    name, qtype, qclass, end = _question(packet)
    ours = name.endswith(SUFFIXES)
    rcode = 0 if ours else 3  # NXDOMAIN: the resolver tries no further for an outside name
    records = b""
    if ours and qtype == TYPE_A and qclass == CLASS_IN:
        # A pointer to the question's name (offset 12), type A, class IN, TTL, the address.
        records = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + socket.inet_aton(address)
    header = struct.pack("!HHHHHH", ident, 0x8000 | (flags & 0x0100) | 0x0080 | rcode, 1, 1 if records else 0, 0, 0)
    return header + packet[12:end] + records


def serve(listen: str, address: str) -> threading.Thread:
    """Answer on UDP ``listen`` (host:port) in a daemon thread."""
    host, _, port = listen.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))

    def loop() -> None:
        while True:
            packet, peer = sock.recvfrom(4096)
            try:
                sock.sendto(answer(packet, address), peer)
            except (IndexError, struct.error, UnicodeError) as exc:  # a malformed query: drop it
                sys.stderr.write(f"dns: {exc!r} from {peer}\n")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread

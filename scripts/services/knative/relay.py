"""A TCP relay between two network namespaces: accept on one, connect from another.

    relay.py LISTEN CONNECT      each ``[NETNS@]HOST:PORT``; NETNS is a file such as /run/netns/NAME,
                                 absent for the namespace the relay starts in

The test cluster's parts live in network namespaces of their own (the Knative processes all bind
:8080, the node's pods need a real interface): the relay is the one way in and out, by loopback, so
nothing gets an address outside those namespaces. Sockets keep the namespace they were made in, so
one process listens in one namespace and connects in the other. Standard library only.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import sys

_CLONE_NEWNET = 0x40000000


def _enter(netns: str | None, home: int) -> None:
    """Switch this thread into ``netns`` (a namespace file), or back ``home`` when None."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns, os.O_RDONLY) if netns else home
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns or 'home'}")
    finally:
        if netns:
            os.close(fd)


def _parse(spec: str) -> tuple[str | None, str, int]:
    netns, _, address = spec.rpartition("@")
    host, _, port = address.rpartition(":")
    return netns or None, host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _serve(listener: socket.socket, host: str, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    server = await asyncio.start_server(handle, sock=listener, backlog=512)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    """Relay ``argv[0]`` (listen) to ``argv[1]`` (connect) until killed."""
    listen_ns, listen_host, listen_port = _parse(argv[0])
    connect_ns, connect_host, connect_port = _parse(argv[1])
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    _enter(listen_ns, home)
    listener = socket.create_server((listen_host, listen_port), reuse_port=False)
    listener.setblocking(False)
    _enter(connect_ns, home)  # every upstream socket is made here, in the connect side's namespace
    asyncio.run(_serve(listener, connect_host, connect_port))


if __name__ == "__main__":
    main(sys.argv[1:])

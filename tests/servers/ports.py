"""Free loopback ports for the servers tests start."""

from __future__ import annotations

import socket
from collections.abc import Sequence


def _is_free(host: str, port: int) -> bool:
    """True when ``port`` can be bound on ``host`` for both TCP and UDP."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(family, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def free_port(hosts: Sequence[str] = ("127.0.0.1",), attempts: int = 50) -> int:
    """A port free for TCP and UDP on every one of ``hosts``.

    DNS servers listen on both protocols, and servers on several loopback
    addresses may share one port, so the kernel's choice for one TCP socket is
    checked against the rest. Another process can still take the port before the
    server binds it; callers that start a server retry on a fresh port.
    """
    family = socket.AF_INET6 if ":" in hosts[0] else socket.AF_INET
    for _ in range(attempts):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        if all(_is_free(host, port) for host in hosts):
            return port
    raise RuntimeError(f"no port free on all of {', '.join(hosts)}")

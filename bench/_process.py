"""What the benchmarks that start servers share: a free port, and stopping a process group."""

from __future__ import annotations

import socket

from atelier.backends.compute.proctree import stop_group

__all__ = ["free_port", "stop_group"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

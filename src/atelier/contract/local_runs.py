"""``atelier run`` through the running ``atelier up`` of its workspace: the socket and its
messages.

A server listens on a Unix socket in the workspace's private state folder
(:data:`SOCKET`, its owner's only). ``atelier run`` on the same machine, by the same system
user, hands it the job there instead of opening the workspace itself (about a second of
imports before a job can exist), and prints what comes back. The server checks the caller's
user id (``SO_PEERCRED``) and the caller checks the server's, so only the workspace's owner is
ever on either end: the same person who could open the workspace's files.

Messages are lines of JSON. The caller sends one request (:data:`REQUEST_KEYS`); the server
answers with objects of one key each: ``decline`` (the caller's ``ATELIER_`` variables differ
from the server's: the command opens the workspace itself, with its own settings), ``notice``
(a line for standard error), ``job`` (the job submitted), ``out`` (the job's output), ``end``
(the job as it ended), ``error`` (a refusal, said as the command would say it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Where the server of a workspace listens, inside the workspace.
SOCKET = ".atelier/run.sock"
#: The longest request line (the caller's environment travels in it).
REQUEST_LIMIT = 1 << 20
#: What a request holds: who acts (``token``: ATELIER_TOKEN, or none for the local admin),
#: where the command ran and with which environment, and the command's options.
REQUEST_KEYS = frozenset(
    {"token", "cwd", "environ", "target", "project", "profile", "params", "detach"}
)


def socket_path(root: Path) -> Path:
    return root / SOCKET


@contextlib.contextmanager
def address(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits in a socket address (108 bytes): the path itself, or the
    path through ``/proc/self/fd`` of its folder, opened here for as long as it is used."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def peer_uid(connection: socket.socket) -> int:
    """The system user id of the process at the other end of ``connection``."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return int(uid)


def send(connection: socket.socket, message: dict[str, Any]) -> None:
    """One message, one line of JSON (times as ISO text, as the API sends them)."""
    connection.sendall(json.dumps(message, default=_text).encode("utf-8") + b"\n")


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)

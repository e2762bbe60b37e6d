"""``atelier run`` handed to this server by its workspace's owner on this machine.

A command that starts cold spends about a second importing what opens a workspace before a job
can exist; this server has the workspace open already. It listens on the workspace's socket
(:mod:`atelier.contract.local_runs`) and, for a caller of its own system user only, submits the
job with the same rules as the command (who acts: ATELIER_TOKEN's user or the local admin; the
role and scope the API asks) with the caller's environment, hands it to a supervisor started
in advance, and streams the job's output back until it ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atelier.contract.local_runs import REQUEST_KEYS, REQUEST_LIMIT, address, peer_uid, send
from atelier.contract.local_runs import socket_path as _socket_path
from atelier.errors import AtelierError, InvalidInput
from atelier.sdk.jobs import EmbeddedJobs
from atelier.sdk.rules import BUILDERS, local_admin_notice, require
from atelier.services.jobs import spare as spares
from atelier.services.workbench import Workbench

log = logging.getLogger(__name__)

#: How long a caller may take to send its request.
REQUEST_SECONDS = 30.0


class LocalRuns:
    """The socket, its accepting thread, and one supervisor kept waiting for the next job."""

    def __init__(self, workbench: Workbench) -> None:
        self.workbench = workbench
        self.path = _socket_path(workbench.workspace.root)
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._lock = threading.Lock()
        self._spare: spares.Spare | None = None

    def start(self) -> bool:
        """Listen, unless another server of this workspace on this machine does already
        (either may take the job). False when not listening."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with address(self.path) as where:
                if _answers(where):
                    listener.close()
                    return False
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # left by a server that stopped
                listener.bind(where)
            os.chmod(self.path, 0o600)
            self._inode = os.stat(self.path).st_ino
            listener.listen(16)
        except OSError as exc:
            listener.close()
            log.warning("atelier run will not be handed to this server (%s): %s", self.path, exc)
            return False
        self._listener = listener
        threading.Thread(target=self._accept, name="local-runs", daemon=True).start()
        return True

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            listener.close()
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == self._inode:  # not another server's since
                    self.path.unlink()
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()

    def _accept(self) -> None:
        while (listener := self._listener) is not None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._serve, args=(connection,), name="local-run", daemon=True
            ).start()

    def _refill(self) -> None:
        """Start the supervisor the next job gets (while nobody waits for it)."""
        fresh = _new_spare()
        if fresh is None:
            return
        with self._lock:
            if self._listener is None or self._spare is not None:
                fresh.close()
                return
            self._spare = fresh

    def _take_spare(self) -> spares.Spare | None:
        """The supervisor kept waiting (one started now for the first job); the next one
        starts in the background. Asked by the jobs service once nothing can refuse the job."""
        with self._lock:
            spare, self._spare = self._spare, None
        threading.Thread(target=self._refill, name="local-runs-spare", daemon=True).start()
        return spare or _new_spare()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                if peer_uid(connection) != os.getuid():
                    send(connection, {"error": "only the workspace's owner may hand it jobs"})
                    return
                connection.settimeout(REQUEST_SECONDS)  # a caller that never ends its line
                line = connection.makefile("rb").readline(REQUEST_LIMIT + 1)
                connection.settimeout(None)
                self._run(connection, _request(line))
            except (BrokenPipeError, ConnectionError, TimeoutError):
                return  # the caller stopped following (the job goes on), or never asked
            except AtelierError as exc:
                with contextlib.suppress(OSError):
                    send(connection, {"error": str(exc)})
            except Exception:
                log.exception("atelier run handed to this server failed")
                with contextlib.suppress(OSError):
                    send(connection, {"error": "the server failed to submit the job: see its log"})

    def _run(self, connection: socket.socket, request: dict[str, Any]) -> None:
        if _settings_variables(request["environ"]) != _settings_variables(os.environ):
            # Settings this server does not have: the command opens the workspace itself.
            send(connection, {"decline": "the command's ATELIER_ variables differ"})
            return
        principal = self.workbench.acting(request["token"])
        notice = local_admin_notice(principal)
        if notice:
            send(connection, {"notice": notice})
        require(principal, BUILDERS, "run jobs", ("jobs",))
        cwd = Path(request["cwd"])
        jobs = EmbeddedJobs(self.workbench, principal, "cli", cwd=cwd, environ=request["environ"])
        project = request["project"] or jobs.project_for(cwd)
        spares.early(self._take_spare)
        try:
            job = jobs.submit(
                request["target"],
                project=project,
                profile=request["profile"],
                params=request["params"],
            )
        finally:
            spares.discard_early()
        print(f"atelier run on this machine: job {job['id']} for {principal.name}", flush=True)
        send(connection, {"job": job})
        if request["detach"]:
            return
        for text in jobs.follow(int(job["id"])):
            send(connection, {"out": text})
        send(connection, {"end": jobs.get(int(job["id"]))})


def _new_spare() -> spares.Spare | None:
    try:
        spare = spares.Spare()
    except (OSError, subprocess.SubprocessError):
        return None
    spare.pid  # noqa: B018 (the shell that started it reaped now, not on a job's path)
    return spare


def _settings_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that may change a workspace's settings (all ``ATELIER_`` ones but a
    client's: who acts, and where)."""
    return {
        name: value
        for name, value in environ.items()
        if name.startswith("ATELIER_") and name not in spares.CLIENT_VARIABLES
    }


def _answers(where: str) -> bool:
    """Whether a server listens at ``where`` already."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(where)
        except OSError:
            return False
    return True


def _request(line: bytes) -> dict[str, Any]:
    """The caller's request, every field checked (what a command's options would accept)."""
    if len(line) > REQUEST_LIMIT:
        raise InvalidInput(f"the request is over {REQUEST_LIMIT} bytes")
    try:
        request = json.loads(line)
    except ValueError:
        raise InvalidInput("the request is not JSON") from None
    if not isinstance(request, dict) or set(request) != REQUEST_KEYS:
        raise InvalidInput(f"the request must hold exactly {sorted(REQUEST_KEYS)}")
    target, environ, cwd = request["target"], request["environ"], request["cwd"]
    if not (target and isinstance(target, list) and all(isinstance(t, str) for t in target)):
        raise InvalidInput("target: give a list of words, e.g. ['train.py']")
    if not (isinstance(cwd, str) and Path(cwd).is_absolute()):
        raise InvalidInput("cwd: give an absolute folder")
    if not (
        isinstance(environ, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in environ.items())
    ):
        raise InvalidInput("environ: give names and values as text")
    for key in ("token", "project", "profile"):
        if request[key] is not None and not isinstance(request[key], str):
            raise InvalidInput(f"{key}: give text or null")
    if not isinstance(request["params"], dict):
        raise InvalidInput("params: give an object of names and values")
    if not isinstance(request["detach"], bool):
        raise InvalidInput("detach: give true or false")
    return request

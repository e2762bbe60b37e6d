"""Shared notebooks: one JupyterLab per project, where its members edit together.

Real-time collaboration (``jupyter-collaboration``) keeps a document's shared state in the
Jupyter server that serves it, so people can only co-edit in one server. Each user's own
JupyterLab stays what it is (their kernels, their settings, no collaboration); a project also
gets a shared server, started on the first request to ``/collab/NAME/`` and stopped when idle
or when Atelier stops:

- its root is the project's folder and its only kernel is the project's environment;
- only the project's owners and editors (and admins) reach it: the gateway checks every
  request and WebSocket; readers, other scientists and viewers are refused;
- Jupyter knows each request's Atelier user (:mod:`.shared_jupyter`), so collaborators'
  cursors and the list of people in a document carry Atelier names;
- a kernel runs as the member who started it (their token for code, made for that kernel's
  server and revoked when it stops), and only that member connects to it: the others see
  the document and its outputs change, and to run cells as themselves they start their own
  kernel ("Change kernel"), which then runs as them;
- terminals are off: a shared server runs nobody's shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from atelier.services.auth import Principal, Tokens
from atelier.services.auth import scopes as token_scopes
from atelier.services.notebooks.kernelspecs import KernelProject, write_kernelspecs
from atelier.services.notebooks.servers import (
    TOKEN_DAYS,
    JupyterServer,
    NotebookServerFailed,
    NotebookServers,
    _default_lab_settings,
    _socket_path,
    _write_private,
    jupyter_environment,
    spawn_jupyter,
)

if TYPE_CHECKING:
    from atelier.services.leases import LeaseKeeper

#: The gateway serves a project's shared server under this path, followed by the name.
PREFIX = "/collab/"


class SharedProject(KernelProject, Protocol):
    """What a shared server needs of a project: its kernel, and its folder as the root."""

    @property
    def path(self) -> Path: ...


def shared_lease_name(project: str) -> str:
    """The lease of the server that runs ``project``'s shared JupyterLab."""
    return f"collab:{project}"


def base_url(project: str) -> str:
    return f"{PREFIX}{project}/"


class SharedServers(NotebookServers):
    """The shared Jupyter servers of one Atelier server, by project name."""

    def __init__(
        self,
        *,
        tokens: Tokens,
        project: Callable[[str], SharedProject],
        folder: Path,
        logs_dir: Path,
        atelier_url: Callable[[], str],
        idle_minutes: int,
        python: str = sys.executable,
        user_environment: Callable[[str], dict[str, str]] | None = None,
        leases: LeaseKeeper | None = None,
    ) -> None:
        """``project``: the project of a name (its folder and interpreter); ``leases``: with
        several Atelier servers, the one running a project's shared server holds
        ``collab:NAME``, and the others say where it runs (as for a user's own JupyterLab)."""
        super().__init__(
            tokens=tokens,
            kernel_projects=lambda _: (),
            folder=folder,
            root_dir=folder,
            logs_dir=logs_dir,
            atelier_url=atelier_url,
            idle_minutes=idle_minutes,
            python=python,
            user_environment=user_environment,
            leases=leases,
        )
        self.project = project
        #: Per server (project): the user each kernel token was made for, and its key.
        self._kernel_tokens: dict[str, dict[str, tuple[str, str]]] = {}
        #: Per server (project): who started each kernel, by kernel id.
        self.kernel_owners: dict[str, dict[str, str]] = {}
        self._token_lock = threading.Lock()

    def start_project(self, name: str) -> JupyterServer:
        """The project's shared server, launched now when it is not running."""
        return self.start(_Key(name))  # type: ignore[arg-type]

    def _lease(self, user: str) -> str:
        return shared_lease_name(user)

    def _describe(self, user: str) -> str:
        return f"the shared JupyterLab of project {user}"

    def kernel_token(self, project: str, user: str) -> str:
        """A token for code acting for ``user``, for the kernels they start in ``project``'s
        shared server (one per user and server; revoked when the server stops)."""
        with self._token_lock:
            held = self._kernel_tokens.setdefault(project, {})
            if user in held:
                return held[user][1]
            info, secret = self.tokens.create_for(
                user,
                f"notebook {user} in shared {project}",
                token_scopes.NOTEBOOK,
                timedelta(days=TOKEN_DAYS),
            )
            held[user] = (info.key, secret)
            return secret

    def _launch(self, principal: Principal) -> JupyterServer:
        name = principal.name
        project = self.project(name)
        folder = self.folder / name
        for sub in ("config", "data", "runtime"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        kernels = write_kernelspecs(folder / "data" / "kernels", [project])
        _default_lab_settings(folder / "config" / "lab" / "user-settings")
        sock = _socket_path(folder)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        secret = secrets.token_urlsafe(32)
        config = folder / "jupyter_server_config.json"
        settings = self._shared_config(name, project.path, folder, sock, secret, kernels)
        _write_private(config, json.dumps(settings, indent=1))
        # No token for the server: each kernel gets the one of the member who starts it.
        env = jupyter_environment(folder, self.atelier_url().rstrip("/"), None)
        if self.user_environment is not None:
            # git's committer here is the shared server; the gateway makes each commit's
            # author the member who commits.
            env.update(self.user_environment(f"shared-{name}"))
        log_path = self.logs_dir / f"jupyter-shared-{name}.log"
        try:
            process = spawn_jupyter(self.python, config, project.path, env, log_path)
        except OSError as exc:
            raise NotebookServerFailed(
                f"cannot start the shared JupyterLab of {name}: {exc}"
            ) from None
        forever = datetime.now(UTC) + timedelta(days=TOKEN_DAYS)
        return JupyterServer(
            name, folder, sock, secret, "", forever, process, log_path, base_url=base_url(name)
        )

    def _shared_config(
        self, name: str, root: Path, folder: Path, sock: Path, secret: str, kernels: list[str]
    ) -> dict[str, Any]:
        here = "atelier.services.notebooks"
        server: dict[str, Any] = {
            "sock": str(sock),
            "sock_mode": "0600",
            "base_url": base_url(name),
            "root_dir": str(root),
            "open_browser": False,
            "allow_remote_access": True,
            "disable_check_xsrf": True,
            "terminals_enabled": False,
            "identity_provider_class": f"{here}.shared_jupyter.GatewayIdentityProvider",
            "kernel_manager_class": f"{here}.shared_jupyter.UserKernelManager",
            "kernel_spec_manager_class": f"{here}.kernelspec_manager.ProjectKernelSpecManager",
        }
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            server["allow_root"] = True
        return {
            "ServerApp": server,
            "IdentityProvider": {"token": secret},
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                "extension_manager": "readonly",
            },
            "MappingKernelManager": {"default_kernel_name": kernels[0] if kernels else ""},
            # The documents' history and file ids live in the server's private folder, not
            # in the project (where they would be committed).
            "YDocExtension": {
                "session_store_path": str(folder / "runtime" / "collaboration_sessions.json")
            },
            "SQLiteYStore": {"db_path": str(folder / "runtime" / "ystore.db")},
            "BaseFileIdManager": {"db_path": str(folder / "runtime" / "file_id.db")},
        }

    def _cleanup(self, server: JupyterServer) -> None:
        with self._token_lock:
            held = self._kernel_tokens.pop(server.user, {})
        self.kernel_owners.pop(server.user, None)
        for key, _ in held.values():
            with contextlib.suppress(Exception):  # the database may be gone at exit
                self.tokens.revoke(key)
        super()._cleanup(server)

    def stop_project(self, name: str) -> bool:
        return self.stop(name)


class _Key:
    """A project's name where the base class expects a principal (it only reads ``name``)."""

    def __init__(self, name: str) -> None:
        self.name = name

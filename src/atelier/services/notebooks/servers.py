"""One JupyterLab server process per user, started on demand and stopped when idle.

Each server listens only on a Unix socket (mode 0600) in the workspace's private folder and
accepts only requests that carry its own random token, which the Atelier gateway adds after
authenticating the user. Its environment, inherited by its kernels, carries ``ATELIER_URL`` and
an Atelier token of that user, scoped to their work (data, features, experiments, jobs, never
accounts or admin; see ``services/auth/scopes.py``), named ``notebook USER``, valid a day, revoked
when the server stops or the next one starts, so ``atelier.connect()`` and MLflow work in a
kernel with no arguments.

A server runs in its own process group and gets SIGTERM when the Atelier process that started
it dies (Linux), so it is never orphaned; its kernels exit with it (ipykernel watches its
parent).

Several servers on one workspace: a user's JupyterLab runs on the server that started it,
which holds the lease ``notebook:USER`` (:mod:`atelier.services.leases`) while it runs. Another
server asked for it raises :class:`NotebookServerElsewhere` with the holder's address instead
of starting a second one on the same files and socket, and the gateway passes the request on
to that server (see :mod:`atelier.server.pages.notebooks`); once that server stops (or dies
and its lease runs out) the next server asked starts a new one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from atelier.backends.compute.proctree import die_with_parent, stop_group
from atelier.config.child_env import without_server_secrets
from atelier.config.settings import ServerSettings
from atelier.errors import AtelierError, HeldElsewhere
from atelier.services.auth import Principal, Tokens
from atelier.services.auth import scopes as token_scopes
from atelier.services.notebooks.kernelspecs import KernelProject, write_kernelspecs

if TYPE_CHECKING:
    from atelier.services.leases import LeaseKeeper

#: Jupyter serves everything under this path, the same one the gateway routes.
BASE_URL = "/notebooks/"
#: AF_UNIX paths longer than this do not fit ``sockaddr_un`` (108 bytes on Linux).
MAX_SOCKET_PATH = 100
TOKEN_DAYS = 1
STOP_SECONDS = 10.0
#: Stop a server whose Atelier token runs out within this: kernels could no longer connect.
TOKEN_MARGIN = timedelta(minutes=10)


class NotebookServerFailed(AtelierError):
    status_code = 502


class NotebookServerElsewhere(HeldElsewhere):
    """The user's JupyterLab runs on another server of the workspace."""


@dataclass
class JupyterServer:
    """A user's running (or starting) Jupyter server."""

    user: str
    folder: Path
    socket: Path
    secret: str
    token_key: str
    token_expires: datetime
    process: subprocess.Popen[bytes]
    log_path: Path
    ready: bool = False
    started: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    #: The path Jupyter serves under (a project's shared server has its own).
    base_url: str = BASE_URL

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def headers(self) -> dict[str, str]:
        """What the gateway adds to every request it forwards here."""
        return {"Authorization": f"token {self.secret}"}

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    def client(self, timeout: float = 5.0) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(uds=str(self.socket), verify=False)
        return httpx.AsyncClient(
            transport=transport,
            base_url=f"http://jupyter{self.base_url}",
            headers=self.headers,
            timeout=timeout,
            verify=False,
            trust_env=False,
        )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class NotebookServers:
    """The Jupyter servers of one Atelier server, by user name."""

    def __init__(
        self,
        *,
        tokens: Tokens,
        kernel_projects: Callable[[Principal], Iterable[KernelProject]],
        folder: Path,
        root_dir: Path,
        logs_dir: Path,
        atelier_url: Callable[[], str],
        idle_minutes: int,
        python: str = sys.executable,
        user_environment: Callable[[str], dict[str, str]] | None = None,
        readonly_projects: Callable[[Principal], Iterable[str]] | None = None,
        leases: LeaseKeeper | None = None,
    ) -> None:
        """``folder``: the private folder for the servers' sockets, configuration and
        runtime files; ``root_dir``: what JupyterLab's file browser shows (the projects)."""
        self.tokens = tokens
        self.kernel_projects = kernel_projects
        self.folder = folder
        self.root_dir = root_dir
        self.logs_dir = logs_dir
        self.atelier_url = atelier_url
        self.idle = timedelta(minutes=idle_minutes)
        self.python = python
        #: Variables of a user's JupyterLab beyond Atelier's own (git's author, for one).
        self.user_environment = user_environment
        #: The projects whose notebooks a user sees but may not run (read-only kernels).
        self.readonly_projects = readonly_projects
        self.leases = leases
        self._servers: dict[str, JupyterServer] = {}
        self._lock = threading.Lock()
        _LIVE.add(self)

    def get(self, user: str) -> JupyterServer | None:
        return self._servers.get(user)

    def users(self) -> list[str]:
        return sorted(self._servers)

    # -- starting ---------------------------------------------------------------------------

    def start(self, principal: Principal) -> JupyterServer:
        """The user's server, launched now when it is not running. Returns at once: poll
        :meth:`probe` until it is ready."""
        with self._lock:
            server = self._servers.get(principal.name)
            if server is not None and server.alive:
                return server
            if server is not None:
                self._cleanup(server)
            self._hold(principal.name)
            try:
                server = self._launch(principal)
            except BaseException:
                self._let_go(principal.name)
                raise
            self._servers[principal.name] = server
            return server

    def _lease(self, user: str) -> str:
        return lease_name(user)

    def _hold(self, user: str) -> None:
        """Take the server's lease, or say which Atelier server runs it."""
        if self.leases is None or self.leases.start().take(self._lease(user)):
            return
        found = self.leases.leases.get(self._lease(user))
        address = found.address if found is not None else ""
        raise NotebookServerElsewhere(
            f"{self._describe(user)} runs on {address or 'another server'}, which could not "
            "be reached from here: open the notebooks through that server, or stop them there; "
            "they move here once that server stops",
            address,
        )

    def _describe(self, user: str) -> str:
        return f"JupyterLab of {user}"

    def _let_go(self, user: str) -> None:
        if self.leases is not None:
            self.leases.give_back(self._lease(user))

    def _launch(self, principal: Principal) -> JupyterServer:
        user = principal.name
        folder = self.folder / user
        for sub in ("config", "data", "runtime"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        kernels = self.sync_kernels(principal)
        _default_lab_settings(folder / "config" / "lab" / "user-settings")
        # Real-time collaboration is for the projects' shared servers (see .shared): in a
        # user's own JupyterLab documents are theirs alone.
        (folder / "config" / "labconfig").mkdir(exist_ok=True)
        _write_private(
            folder / "config" / "labconfig" / "page_config.json",
            json.dumps({"disabledExtensions": dict.fromkeys(SHARED_ONLY_LAB, True)}),
        )
        sock = _socket_path(folder)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        secret = secrets.token_urlsafe(32)
        info, token = self.tokens.create_for(
            user, f"notebook {user}", token_scopes.NOTEBOOK, timedelta(days=TOKEN_DAYS)
        )
        config = folder / "jupyter_server_config.json"
        _write_private(config, json.dumps(self._config(sock, secret, kernels), indent=1))
        url = self.atelier_url().rstrip("/")
        env = jupyter_environment(folder, url, token)
        if self.user_environment is not None:
            env.update(self.user_environment(user))
        log_path = self.logs_dir / f"jupyter-{user}.log"
        try:
            process = spawn_jupyter(self.python, config, self.root_dir, env, log_path)
        except OSError as exc:
            self.tokens.revoke(info.key)
            raise NotebookServerFailed(f"cannot start JupyterLab for {user}: {exc}") from None
        return JupyterServer(
            user, folder, sock, secret, info.key, info.expires_at, process, log_path
        )

    def _config(self, sock: Path, secret: str, kernels: list[str]) -> dict[str, Any]:
        server: dict[str, Any] = {
            "sock": str(sock),
            "sock_mode": "0600",
            "base_url": BASE_URL,
            "root_dir": str(self.root_dir),
            "open_browser": False,
            # Only the gateway reaches the socket; it checked the caller and the Origin, and
            # sends the Host of the internal name.
            "allow_remote_access": True,
            "disable_check_xsrf": True,
            "kernel_spec_manager_class": (
                "atelier.services.notebooks.kernelspec_manager.ProjectKernelSpecManager"
            ),
            "jpserver_extensions": {"jupyter_server_ydoc": False},
        }
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            server["allow_root"] = True
        config: dict[str, Any] = {
            "ServerApp": server,
            "IdentityProvider": {"token": secret},
            # No internet, no surprises: no news feed, update checks or extension installs.
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                "extension_manager": "readonly",
            },
        }
        if kernels:
            config["MappingKernelManager"] = {"default_kernel_name": kernels[0]}
        return config

    def sync_kernels(self, principal: Principal) -> list[str]:
        """Write a kernelspec for each of the user's projects; returns their names."""
        kernels_dir = self.folder / principal.name / "data" / "kernels"
        readonly = self.readonly_projects(principal) if self.readonly_projects else ()
        return write_kernelspecs(kernels_dir, self.kernel_projects(principal), readonly)

    async def probe(self, server: JupyterServer) -> bool:
        """Whether the server answers now; raises when its process has ended."""
        if server.ready and server.alive:
            return True
        if not server.alive:
            self.forget(server)
            raise NotebookServerFailed(
                f"JupyterLab for {server.user} stopped (exit code {server.process.returncode}); "
                f"see {server.log_path}. Last lines:\n{server.log_tail()}"
            )
        if not server.socket.exists():
            return False
        try:
            async with server.client(timeout=2.0) as client:
                response = await client.get("api/status")
        except httpx.HTTPError:
            return False
        server.ready = response.status_code == 200
        return server.ready

    # -- stopping ---------------------------------------------------------------------------

    def forget(self, server: JupyterServer) -> None:
        """Drop a server that ended on its own, cleaning up after it."""
        with self._lock:
            if self._servers.get(server.user) is server:
                del self._servers[server.user]
            self._cleanup(server)

    def stop(self, user: str) -> bool:
        """Stop the user's server (its kernels with it); False when none was running."""
        with self._lock:
            server = self._servers.pop(user, None)
        if server is None:
            return False
        stop_group(server.process, STOP_SECONDS)
        self._cleanup(server)
        return True

    def stop_all(self) -> None:
        for user in self.users():
            self.stop(user)

    def _cleanup(self, server: JupyterServer) -> None:
        with contextlib.suppress(Exception):  # the database may be gone at exit
            self.tokens.revoke(server.token_key)
        self._let_go(server.user)
        with contextlib.suppress(FileNotFoundError):
            server.socket.unlink()
        if server.socket.parent != server.folder:
            shutil.rmtree(server.socket.parent, ignore_errors=True)

    async def idle_users(self) -> list[str]:
        """Users whose server should stop: idle past ``idle_minutes`` with no kernel busy,
        ended on its own, or whose Atelier token is about to run out."""
        found = []
        now = datetime.now(UTC)
        for user, server in list(self._servers.items()):
            expiring = server.token_expires.replace(tzinfo=UTC) - now < TOKEN_MARGIN
            if not server.alive or expiring or await self._idle(server, now):
                found.append(user)
        return found

    async def _idle(self, server: JupyterServer, now: datetime) -> bool:
        """No traffic through the gateway, no kernel busy and no activity that Jupyter saw
        (kernel output included) for ``idle_minutes``."""
        quiet = time.monotonic() - server.last_activity > self.idle.total_seconds()
        if not (self.idle and server.ready and quiet):
            return False
        try:
            async with server.client() as client:
                status = (await client.get("api/status")).json()
                kernels = (await client.get("api/kernels")).json()
        except (httpx.HTTPError, ValueError):
            return True  # not answering: as good as idle
        if any(kernel.get("execution_state") == "busy" for kernel in kernels):
            return False
        last = datetime.fromisoformat(status["last_activity"].replace("Z", "+00:00"))
        return now - last > self.idle


def jupyter_environment(folder: Path, url: str, token: str | None) -> dict[str, str]:
    """The environment of a Jupyter server and its kernels: Atelier's address, the token its
    kernels act with (None: each kernel gets its own), Jupyter's folders under ``folder``;
    none of the server's own secrets or settings."""
    env = {
        k: v
        for k, v in without_server_secrets(os.environ).items()
        if not k.startswith(("ATELIER_", "JUPYTER", "MLFLOW_"))
    }
    env.update(
        ATELIER_URL=url,
        MLFLOW_TRACKING_URI=f"{url}/mlflow",
        JUPYTER_CONFIG_DIR=str(folder / "config"),
        JUPYTER_DATA_DIR=str(folder / "data"),
        JUPYTER_RUNTIME_DIR=str(folder / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    if token is not None:
        env.update(ATELIER_TOKEN=token, MLFLOW_TRACKING_TOKEN=token)
    return env


def spawn_jupyter(
    python: str, config: Path, cwd: Path, env: dict[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """Start JupyterLab with ``config`` in its own process group, tied to this process's
    life, its output appended to ``log_path``."""
    log: IO[bytes]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [python, "-m", "jupyterlab", f"--config={config}"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )


def lease_name(user: str) -> str:
    """The lease of the server that runs ``user``'s JupyterLab."""
    return f"notebook:{user}"


def server_url(server: ServerSettings) -> str:
    """The Atelier server's own address, as its kernels reach it (loopback when it listens
    on every interface)."""
    host = server.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.port}"


#: JupyterLab's parts of real-time collaboration, off in users' own servers.
SHARED_ONLY_LAB = ("@jupyter/collaboration-extension", "@jupyter/docprovider-extension")

#: JupyterLab settings a new user starts with (theirs to change afterwards).
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    # No internet from the server: do not offer to fetch Jupyter's news feed.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    # A way back: an "Atelier" menu whose entry opens the portal (served at the same origin,
    # JupyterLab itself lives under /notebooks/).
    "@jupyterlab/mainmenu-extension/plugin.jupyterlab-settings": {
        "menus": [
            {
                "id": "jp-mainmenu-atelier",
                "label": "Atelier",
                "rank": 1000,
                "items": [
                    {
                        "command": "help:open",
                        "args": {"url": "/", "text": "Atelier portal", "newBrowserTab": True},
                        "rank": 0,
                    }
                ],
            }
        ]
    },
}


def _default_lab_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        target = settings_dir / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")


def _socket_path(folder: Path) -> Path:
    sock = folder / "jupyter.sock"
    if len(str(sock)) <= MAX_SOCKET_PATH:
        return sock
    # A deep workspace: a private temporary folder keeps the path short enough.
    return Path(tempfile.mkdtemp(prefix="atelier-jupyter-")) / "jupyter.sock"


def _write_private(path: Path, text: str) -> None:
    staged = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        staged.unlink()
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    staged.replace(path)


_LIVE: weakref.WeakSet[NotebookServers] = weakref.WeakSet()


@atexit.register
def _stop_everything() -> None:
    for servers in list(_LIVE):
        servers.stop_all()

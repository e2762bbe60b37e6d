"""MLflow's tracking server and model registry, run by Atelier on a private Unix socket.

Atelier starts MLflow's own ASGI app (``mlflow.server.fastapi_app``, what ``mlflow server``
runs) under uvicorn in a child process: lazily on the first ``/mlflow`` request, or eagerly in
the background by ``atelier up``. The child

* listens only on a Unix socket created with mode 0600 inside a 0700 folder: nobody but the
  Atelier server reaches it, and the portal's login guards every byte through the proxy;
* gets the environment ``mlflow server`` would give its workers: backend and registry store,
  artifact proxy (``--serve-artifacts``) with workspace storage as destination (a folder, or
  ``<prefix>/mlflow`` in the ``[storage]`` bucket: clients still upload and download through
  Atelier, never straight from the bucket, and never see its credentials), static prefix
  ``/mlflow``; MLflow's host and CORS middleware stays on, allowing exactly the Host and Origin
  that Atelier's proxy sends;
* runs in its own process group, stopped with the app (SIGTERM to the group, SIGKILL if it
  lingers), and exits by itself when its parent dies, so it is never orphaned.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from atelier.backends.compute.proctree import stop_group
from atelier.backends.storage import ObjectStore
from atelier.errors import AtelierError
from atelier.services.tracking.store import ARTIFACT_ROOT, URL_PREFIX, TrackingStore

#: The Host header Atelier's proxy sends and the only one MLflow's middleware accepts.
UPSTREAM_HOST = "mlflow.atelier.internal"
#: The Origin the proxy sends on same-origin browser requests (checked by Atelier first).
UPSTREAM_ORIGIN = f"http://{UPSTREAM_HOST}"
#: Unix socket paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 100


class TrackingUnavailable(AtelierError):
    """MLflow is not installed, or its server did not start."""

    status_code = 503


def mlflow_installed() -> bool:
    return importlib.util.find_spec("mlflow") is not None


class TrackingServer:
    """MLflow's server process for one workspace: start once, reach over a Unix socket, stop."""

    def __init__(
        self,
        store: TrackingStore,
        *,
        run_dir: Path,
        log_path: Path,
        startup_timeout: float = 120.0,
        storage: ObjectStore | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self._run_dir = run_dir
        self._socket_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._error: TrackingUnavailable | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- state ---------------------------------------------------------------------------

    @property
    def socket_path(self) -> Path:
        if self._socket_dir is None:
            self._socket_dir = _private_dir(self._run_dir)
        return self._socket_dir / "mlflow.sock"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def ready(self) -> bool:
        """Started and still running: :meth:`ensure_started` would return at once."""
        return self._ready and self.running

    @property
    def last_error(self) -> TrackingUnavailable | None:
        """Why the last start failed (kept for background starts), or None."""
        return self._error

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- life cycle ----------------------------------------------------------------------

    def ensure_started(self) -> Path:
        """Start the server if needed and wait until it answers; its socket path.

        Raises :class:`TrackingUnavailable` with the last lines of its log when it fails.
        Thread-safe: concurrent callers wait for the same start.
        """
        with self._lock:
            if self._ready and self.running:
                return self.socket_path
            self._ready = False
            self._error = None
            self._stopping.clear()
            try:
                self._spawn()
                self._wait_ready()
            except TrackingUnavailable as exc:
                self._error = exc
                self._terminate()
                raise
            self._ready = True
            return self.socket_path

    def start_in_background(self) -> threading.Thread:
        """Start the server without waiting for it (``atelier up``); failures are kept for
        the first request, which tries again and reports them."""

        def start() -> None:
            with contextlib.suppress(TrackingUnavailable):
                self.ensure_started()

        thread = threading.Thread(target=start, name="mlflow-start", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        # Without the lock first: a start in progress holds it while it waits for readiness,
        # and stopping must not wait for that.
        self._stopping.set()
        self._terminate()
        with self._lock:
            self._terminate()
            self._ready = False
        if self._socket_dir is not None:
            with contextlib.suppress(OSError):
                self.socket_path.unlink()

    def _spawn(self) -> None:
        if self.running:
            return
        if not mlflow_installed():
            raise TrackingUnavailable(
                "experiments need MLflow, which is not installed: pip install 'atelier[ml]'"
            )
        self.store.prepare()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys; from atelier.services.tracking.server import main; "
                    "main(sys.argv[1:])",
                    str(self.socket_path),
                    str(os.getpid()),
                ],
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, spared the terminal's Ctrl-C
                cwd=self.store.data_dir,
            )

    def environment(self) -> dict[str, str]:
        """What ``mlflow server --serve-artifacts --static-prefix /mlflow`` gives its workers.

        The names are those of ``mlflow.server.constants`` (importing it would load MLflow's
        whole Flask app into the Atelier process); a test checks they still match.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        backend = self.store.backend_uri
        destination = str(self.store.artifacts_dir)
        if self.storage is not None:
            destination = self.artifact_destination
            env.update(self.storage.environment())
        env.update(
            {
                "_MLFLOW_SERVER_FILE_STORE": backend,
                "_MLFLOW_SERVER_REGISTRY_STORE": backend,
                "_MLFLOW_SERVER_ARTIFACT_ROOT": ARTIFACT_ROOT,
                "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
                "_MLFLOW_SERVER_ARTIFACT_DESTINATION": destination,
                "_MLFLOW_STATIC_PREFIX": URL_PREFIX,
                "_MLFLOW_SGI_NAME": "uvicorn",
                "_MLFLOW_SERVER_BOOT_ID": uuid.uuid4().hex,
                "_MLFLOW_IN_JOB_EXECUTOR": "false",
                # Atelier's proxy sends exactly this Host and Origin; MLflow refuses others.
                "MLFLOW_SERVER_ALLOWED_HOSTS": UPSTREAM_HOST,
                "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS": UPSTREAM_ORIGIN,
                # Scorer jobs would start a task queue and run user code in the server.
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                # The assistant runs tools on the host: never for remote callers (the proxy
                # refuses its API too; its UI is hidden by Atelier's settings for MLflow's page).
                "MLFLOW_ENABLE_REMOTE_ASSISTANT": "false",
                "MLFLOW_DISABLE_TELEMETRY": "true",
                "DO_NOT_TRACK": "1",
            }
        )
        return env

    @property
    def artifact_destination(self) -> str:
        """Where the artifacts are kept: the workspace folder or the bucket's ``mlflow``."""
        if self.storage is not None:
            return self.storage.url("mlflow")
        return str(self.store.artifacts_dir)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._stopping.is_set():
                raise TrackingUnavailable("MLflow's server was stopped while starting")
            process = self._process
            if process is None or process.poll() is not None:
                code = process.returncode if process is not None else None
                raise self._failure(f"MLflow's server exited with status {code} while starting")
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise self._failure(
                    f"MLflow's server did not answer within {self.startup_timeout:.0f} s"
                )
            time.sleep(0.1)

    def _answers(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            response = self.request("GET", "/health", timeout=2)
        except OSError:
            return False
        return bool(response.status_code == 200)

    def _failure(self, what: str) -> TrackingUnavailable:
        tail = self.log_tail()
        detail = ("; last log lines: " + " | ".join(tail)) if tail else ""
        return TrackingUnavailable(f"{what} (log: {self.log_path}){detail}")

    def log_tail(self, lines: int = 12) -> list[str]:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(getattr(self, "_log_start", 0))
                text = log.read().decode(errors="replace")
        except OSError:
            return []
        kept = deque((line.strip() for line in text.splitlines() if line.strip()), maxlen=lines)
        return list(kept)

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_group(process, 15)

    # -- talking to it -------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request to MLflow over its socket (``path`` below ``/mlflow``); an httpx response.

        For Atelier's own reads (portal pages); users' traffic goes through the proxy.
        """
        import httpx

        # Plain HTTP on a private socket: no certificate store, no proxy from the environment.
        transport = httpx.HTTPTransport(uds=str(self.socket_path), verify=False)
        with httpx.Client(
            transport=transport,
            base_url=f"http://{UPSTREAM_HOST}",
            timeout=kwargs.pop("timeout", 30),
            trust_env=False,
        ) as client:
            try:
                return client.request(method, URL_PREFIX + path, **kwargs)
            except httpx.TransportError as exc:
                raise OSError(f"MLflow's server did not answer: {exc}") from exc

    def api(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        """Call MLflow's REST API (``endpoint`` like ``runs/search``); the decoded JSON.

        Starts the server if needed; MLflow's error message becomes an :class:`AtelierError`.
        """
        self.ensure_started()
        try:
            response = self.request(method, f"/ajax-api/2.0/mlflow/{endpoint}", **kwargs)
        except OSError as exc:
            raise TrackingUnavailable(str(exc)) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            error = AtelierError(f"MLflow {endpoint}: {message}")
            error.status_code = 404 if response.status_code == 404 else 400
            raise error
        result: dict[str, Any] = response.json()
        return result


def _private_dir(preferred: Path) -> Path:
    """A folder only this user can enter, short enough for a Unix socket path inside it."""
    if len(str(preferred / "mlflow.sock")) <= _MAX_SOCKET_PATH:
        preferred.mkdir(parents=True, exist_ok=True, mode=0o700)
        preferred.chmod(0o700)
        return preferred
    return Path(tempfile.mkdtemp(prefix="atelier-mlflow-"))  # mode 0700


# -- the child process --------------------------------------------------------------------


def _listen(path: str) -> socket.socket:
    """Bind the Unix socket with mode 0600 from the start (uvicorn's ``--uds`` makes it 0666)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(path)
    finally:
        os.umask(previous)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


def _watch_parent(parent: int) -> None:
    """Stop this server when the Atelier process that started it is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _prepare_stores() -> None:
    """Open (and migrate) the stores before listening: ready means ready, and a bad database
    fails the start with MLflow's message instead of the first request."""
    from mlflow.server.handlers import _get_model_registry_store, _get_tracking_store

    _get_tracking_store()
    _get_model_registry_store()


def main(argv: list[str]) -> None:
    import uvicorn

    socket_path, parent = argv[0], int(argv[1])
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _prepare_stores()
    sock = _listen(socket_path)
    config = uvicorn.Config(
        "mlflow.server.fastapi_app:app",
        log_level="warning",
        proxy_headers=False,
        # Longer than the gateway keeps an idle connection (httpx: 5 s), so that it is always
        # the gateway that closes one, never MLflow while a request is on its way.
        timeout_keep_alive=60,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run(sockets=[sock])

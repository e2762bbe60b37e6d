"""Hosted apps: the team's Streamlit or Dash scripts run as supervised processes.

Each running hosted app is a child process in the project's environment, listening on a
loopback port that only the Atelier server knows; users reach it at ``/apps/NAME/`` on the
apps origin, never the portal's (``atelier.server.apps_origin`` proxies HTTP and WebSocket
traffic after the portal's login hand-off), so that its JavaScript cannot act as its visitor
in the portal. Streamlit is started with ``--server.baseUrlPath=/apps/NAME`` and Dash with
``DASH_URL_BASE_PATHNAME=/apps/NAME/``, so their pages and assets live under the proxied path
(the same on every origin: the app never needs to know which one serves it). The app gets
``ATELIER_URL`` and a scoped ``ATELIER_TOKEN`` of its owner (renewed while it runs, revoked
when it stops) so that ``atelier.connect()`` works.

A watcher thread per app restarts it when it exits, after a backoff that doubles with each
quick crash (1 s up to a minute) and resets once it stayed up for a while. Output goes to
``<logs>/apps/NAME.log``, shown in the portal.

Several servers on one workspace each run their own process of an app, started by the first
request for it that reaches them, with a token of its own (``app NAME on NODE:PID``): an app
is a web front end over the workspace, so copies serve alike, and a visitor's WebSocket
stays on the server the reverse proxy keeps them on. There is nothing to take over when a
server dies; pausing, redeploying or deleting an app revokes every copy's token, and the
other servers stop theirs at their next request.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from atelier.backends.compute.proctree import die_with_parent, stop_group
from atelier.config.child_env import without_server_secrets
from atelier.errors import AtelierError
from atelier.services.apps.registry import AppInfo

log = logging.getLogger(__name__)

#: Backoff after a crash: doubles from FIRST_DELAY to MAX_DELAY; reset after STABLE seconds up.
FIRST_DELAY = 1.0
MAX_DELAY = 60.0
STABLE = 30.0


class AppUnavailable(AtelierError):
    status_code = 503


@dataclass(frozen=True)
class Launch:
    """How to start one hosted app."""

    python: str
    script: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    #: Called every ``renew_every`` seconds while the process runs (its token's renewal).
    renew: Callable[[], None] | None = None
    renew_every: float = 3600.0


def command(app: AppInfo, launch: Launch, port: int) -> tuple[list[str], dict[str, str]]:
    """The argument vector and extra environment of a hosted app's process."""
    base = f"/apps/{app.name}"
    env = {"PYTHONUNBUFFERED": "1", **launch.env}
    if app.kind == "streamlit":
        argv = [
            launch.python,
            "-m",
            "streamlit",
            "run",
            str(launch.script),
            "--server.address=127.0.0.1",
            f"--server.port={port}",
            f"--server.baseUrlPath={base}",
            "--server.headless=true",
            "--server.fileWatcherType=none",
            "--server.runOnSave=false",
            "--browser.gatherUsageStats=false",
            "--global.developmentMode=false",
            # End users see the viewer's menu only: no "Deploy" to Streamlit's cloud, no
            # developer options (the app's owner manages it from Atelier).
            "--client.toolbarMode=viewer",
        ]
        return argv, env
    env.update(HOST="127.0.0.1", PORT=str(port), DASH_URL_BASE_PATHNAME=f"{base}/")
    return [launch.python, str(launch.script)], env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HostedProcess:
    """One hosted app's process and the thread that keeps it running."""

    def __init__(
        self,
        app: AppInfo,
        launch: Callable[[AppInfo], Launch],
        log_path: Path,
        on_stop: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        self.launch = launch
        self.log_path = log_path
        self.on_stop = on_stop
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.spec: Launch | None = None
        self.restarts = 0
        self.last_exit: int | None = None
        self.state = "starting"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"app-{app.name}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ready(self) -> bool:
        if not self.running or not self.port:
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _spawn(self) -> subprocess.Popen[bytes]:
        spec = self.spec = self.launch(self.app)
        self.port = free_port()
        argv, extra = command(self.app, spec, self.port)
        env = {
            k: v
            for k, v in without_server_secrets(os.environ).items()
            if not k.startswith(("ATELIER_", "MLFLOW_"))
        }
        env.update(extra)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[bytes]
        with self.log_path.open("ab") as handle:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.write(f"--- {stamp} starting {self.app.name} on port {self.port}\n".encode())
            handle.flush()
            return subprocess.Popen(
                argv,
                cwd=spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def _watch(self) -> None:
        delay = FIRST_DELAY
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.process = self._spawn()
            except Exception as error:
                self._note(f"could not start: {error}")
                self.state = "failed"
            else:
                self.state = "running"
                self.last_exit = self._wait(self.process)
                if self._stop.is_set():
                    break
                self._note(f"exited with code {self.last_exit}; restarting in {delay:.0f} s")
                self.state = "restarting"
            if time.monotonic() - started > STABLE:
                delay = FIRST_DELAY
            self.restarts += 1
            if self._stop.wait(delay):
                break
            delay = min(MAX_DELAY, delay * 2)
        self.state = "stopped"

    def _wait(self, process: subprocess.Popen[bytes]) -> int:
        """The process's exit code, renewing its token while it runs."""
        spec = self.spec
        while True:
            try:
                return process.wait(timeout=spec.renew_every if spec and spec.renew else None)
            except subprocess.TimeoutExpired:
                if spec is not None and spec.renew is not None and not self._stop.is_set():
                    try:
                        spec.renew()
                    except Exception as error:  # kept running; the token may lapse
                        log.warning("hosted app %s: token not renewed: %s", self.app.name, error)

    def _note(self, message: str) -> None:
        log.warning("hosted app %s %s", self.app.name, message)
        try:
            with self.log_path.open("a", encoding="utf-8") as handle:
                handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        except OSError:
            pass

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        process = self.process
        if process is not None:
            stop_group(process, timeout)
        self._thread.join(timeout=timeout)
        self.on_stop()


class Supervisor:
    """Keeps the running hosted apps running; started lazily by the first request."""

    def __init__(self, launch: Callable[[AppInfo], Launch], logs_dir: Path) -> None:
        self.launch = launch
        self.logs_dir = logs_dir
        self._apps: dict[str, HostedProcess] = {}
        self._lock = threading.Lock()

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def ensure(self, app: AppInfo, on_stop: Callable[[], None] = lambda: None) -> HostedProcess:
        """The app's process, started if it is not supervised yet (or its script changed)."""
        with self._lock:
            current = self._apps.get(app.name)
            if current is not None and launch_key(current.app) == launch_key(app):
                return current
        if current is not None:
            self.stop(app.name)
        with self._lock:
            current = self._apps.get(app.name)
            if current is None:
                current = HostedProcess(app, self.launch, self.log_path(app.name), on_stop)
                self._apps[app.name] = current
            return current

    def get(self, name: str) -> HostedProcess | None:
        return self._apps.get(name)

    def wait_ready(self, app: AppInfo, timeout: float = 60.0) -> HostedProcess:
        hosted = self.ensure(app)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if hosted.ready():
                return hosted
            time.sleep(0.2)
        raise AppUnavailable(
            f"app {app.name!r} did not start listening within {timeout:.0f} s "
            f"({hosted.state}, {hosted.restarts} restarts): see its logs"
        )

    def stop(self, name: str) -> None:
        with self._lock:
            hosted = self._apps.pop(name, None)
        if hosted is not None:
            hosted.stop()

    def stop_all(self) -> None:
        for name in list(self._apps):
            self.stop(name)

    def logs(self, name: str, lines: int = 200) -> str:
        path = self.log_path(name)
        if not path.exists():
            return ""
        with path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))


def launch_key(app: AppInfo) -> tuple[object, ...]:
    """What a running process was started from: a new deployment changes it."""
    try:
        stamp = Path(app.script).stat().st_mtime_ns if app.script else 0
    except OSError:
        stamp = 0
    return (app.kind, app.script, app.project, app.owner, stamp)

"""Models in their own environment: environments built from a model's captured lock, and
worker processes that load the model there and answer over a Unix socket.

**Which models.** A model version runs out of process when its captured environment differs
from Atelier's: a package the training process *imported* (``modules`` in
``atelier-environment.json``) is missing from Atelier's environment or installed here at
another version. Packages of the project lock that training never imported (a notebook's
``ipykernel``) do not count. A version logged without ``requirements.lock`` loads in-process,
as before. See :func:`differences`.

**Environments.** ``requirements.lock`` (``name==version`` lines, with ``--hash`` options where
known) is checked line by line (no options, URLs or paths: a lock cannot point uv at another
index or a local file), then installed with ``uv venv`` + ``uv pip install`` into
``<root>/<key>/venv``; ``key`` is the sha256 of the Python version and the pinned lines, so
versions sharing a lock share one environment. A build runs in the background; concurrent
builds of one key (threads or processes) wait for the first one (a file lock), and a build
that fails leaves nothing behind but its ``state.json`` with uv's reason. Until it is ready
:class:`EnvironmentBuilding` (503, ``Retry-After``) says what it is doing; a failed build is
:class:`EnvironmentFailed` (422) with uv's reason, tried again after :data:`RETRY_SECONDS`.

**Workers.** One process per model version (:mod:`.model_worker`), started on first use with
the environment's interpreter in isolated mode and an environment without Atelier's variables
(no tokens, no workspace secrets, no bucket credentials: it reads the model's files from a
local folder the server fills, see ``ModelRegistry._files``); it exits when the server does and
is stopped after :attr:`Workers.idle_seconds` without a request (started again on the next).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.config.child_env import without_server_secrets
from atelier.errors import AtelierError
from atelier.services.serving import model_worker
from atelier.services.serving.models import LoadedModel, Output
from atelier.services.tracking.environment import (
    ENVIRONMENT_ARTIFACT,
    REQUIREMENTS_ARTIFACT,
    normalize,
)
from atelier.services.tracking.registry import VersionInfo

if TYPE_CHECKING:
    import pandas

log = logging.getLogger(__name__)

#: Seconds a client is told to wait before asking again while an environment builds.
RETRY_AFTER = 5
#: A failed build is tried again on a request this many seconds after it failed.
RETRY_SECONDS = 300.0
#: Seconds a worker may take to load its model before it is given up.
START_SECONDS = 180.0
#: Workers stopped after this long without a request.
IDLE_SECONDS = 1800.0
#: Seconds one uv step may take.
UV_TIMEOUT = 1800
#: Lines of a worker's log quoted when it fails to start.
LOG_LINES = 12

READY, BUILDING, FAILED, NOT_BUILT = "ready", "building", "failed", "not-built"

#: ``name==version`` then only ``--hash=algo:hex`` options.
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
_HASH = re.compile(r"^--hash=(sha256|sha384|sha512):[0-9a-f]{32,128}$")
#: Variables a worker or a job in a model's environment never sees.
_FOREIGN = ("VIRTUAL_ENV", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT", "UV_PROJECT", "UV_PYTHON")


class EnvironmentBuilding(AtelierError):
    """The model's environment is being built: ask again later."""

    status_code = 503

    def __init__(self, message: str, *, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class EnvironmentFailed(AtelierError):
    """The model's environment could not be built, or the model not loaded in it."""

    status_code = 422


class WorkerError(AtelierError):
    """The model's worker answered with an error (the model itself failed)."""

    status_code = 502


# -- the lock ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...] = ()

    def line(self) -> str:
        return " ".join([f"{self.name}=={self.version}", *(f"--hash={h}" for h in self.hashes)])


def parse_lock(text: str, *, where: str = REQUIREMENTS_ARTIFACT) -> list[Pin]:
    """The pinned requirements of a captured ``requirements.lock``. Only ``name==version``
    lines with ``--hash`` options are accepted: anything else (an option, a URL, a path, a
    range) is an error naming the line, never passed to uv."""
    pins: list[Pin] = []
    seen: set[str] = set()
    number = 0
    logical: list[tuple[int, str]] = []
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if "\0" in raw:
            raise EnvironmentFailed(f"{where} line {number}: not text")
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.strip():
            logical.append((number, line.strip()))
    if pending.strip():
        raise EnvironmentFailed(f"{where} line {number}: ends with a continuation (truncated?)")
    for number, line in logical:
        first, *options = line.split()
        match = _PIN.match(first)
        if match is None:
            raise EnvironmentFailed(
                f"{where} line {number}: {first[:80]!r} is not a pinned requirement "
                "(name==version); the lock is corrupted or was not written by Atelier"
            )
        hashes = []
        for option in options:
            if not _HASH.match(option):
                raise EnvironmentFailed(
                    f"{where} line {number}: {option[:80]!r} is not allowed "
                    "(only --hash=sha256:... options)"
                )
            hashes.append(option.removeprefix("--hash="))
        name = normalize(match.group(1))
        if name in seen:
            raise EnvironmentFailed(f"{where} line {number}: {match.group(1)} is pinned twice")
        seen.add(name)
        pins.append(Pin(match.group(1), match.group(2), tuple(hashes)))
    if not pins:
        raise EnvironmentFailed(f"{where} pins no package: the lock is empty or incomplete")
    return pins


def installed_here() -> dict[str, str]:
    """``{normalized name: version}`` of Atelier's own environment."""
    from importlib.metadata import distributions

    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalize(name), dist.version)
    return found


def differences(
    environment: Mapping[str, Any] | None, pins: list[Pin], here: Mapping[str, str]
) -> list[str]:
    """Why a model cannot run in Atelier's process: each package its training imported that
    Atelier lacks or has at another version (every pinned package when the lock comes without
    an environment record)."""
    imported: set[str] | None = None
    if environment is not None:
        imported = {
            normalize(str(p.get("name", "")))
            for p in environment.get("packages") or ()
            if isinstance(p, Mapping) and p.get("modules")
        }
    found = []
    for pin in pins:
        key = normalize(pin.name)
        if imported is not None and key not in imported:
            continue
        if key not in here:
            found.append(f"{pin.name} {pin.version} is not installed in Atelier's environment")
        elif here[key] != pin.version:
            found.append(f"{pin.name} {pin.version} (Atelier has {here[key]})")
    return found


@dataclass(frozen=True)
class Plan:
    """How one model version runs out of process: in the environment ``key``."""

    key: str
    python: str
    pins: tuple[Pin, ...]
    reasons: tuple[str, ...]

    def requirements(self) -> str:
        return "".join(pin.line() + "\n" for pin in self.pins)


def plan_for(folder: Path, here: Mapping[str, str]) -> Plan | None:
    """The plan of the model saved in ``folder``; None when it runs in Atelier's process.
    :class:`EnvironmentFailed` when its lock cannot be read."""
    lock = folder / REQUIREMENTS_ARTIFACT
    if not lock.is_file():
        return None
    try:
        text = lock.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EnvironmentFailed(f"{REQUIREMENTS_ARTIFACT} cannot be read: {error}") from None
    pins = parse_lock(text)
    environment: dict[str, Any] | None = None
    record = folder / ENVIRONMENT_ARTIFACT
    if record.is_file():
        try:
            value = json.loads(record.read_text(encoding="utf-8"))
            environment = value if isinstance(value, dict) else None
        except (OSError, ValueError):
            environment = None
    reasons = differences(environment, pins, here)
    if not reasons:
        return None
    python = str(((environment or {}).get("python") or {}).get("version") or "")
    minor = ".".join(python.split(".")[:2]) or f"{sys.version_info[0]}.{sys.version_info[1]}"
    digest = hashlib.sha256(
        ("python " + minor + "\n" + "".join(p.line() + "\n" for p in pins)).encode()
    ).hexdigest()
    return Plan(digest[:32], minor, tuple(pins), tuple(reasons))


# -- environments --------------------------------------------------------------------------------


@dataclass
class BuildState:
    state: str
    message: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    failed_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "message": self.message,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Environments:
    """Environments built from model locks under ``root``, one folder per lock key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._threads: dict[str, threading.Thread] = {}
        self._progress: dict[str, str] = {}
        self._lock = threading.Lock()

    def folder(self, key: str) -> Path:
        return self.root / key

    def python(self, key: str) -> Path:
        return self.folder(key) / "venv" / "bin" / "python"

    def state(self, key: str) -> BuildState:
        """What is known of environment ``key``: built, building (with progress), failed."""
        with self._lock:
            progress = self._progress.get(key)
            running = key in self._threads and self._threads[key].is_alive()
        path = self.folder(key) / "state.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if saved.get("state") == READY and self.python(key).exists():
            return BuildState(
                READY, saved.get("message", ""), saved.get("started_at"), saved.get("finished_at")
            )
        if running:
            return BuildState(
                BUILDING,
                progress or "waiting for another build of this environment",
                saved.get("started_at"),
            )
        if saved.get("state") == FAILED:
            return BuildState(
                FAILED,
                str(saved.get("message", "")),
                saved.get("started_at"),
                saved.get("finished_at"),
                float(saved.get("failed_at") or 0),
            )
        if saved.get("state") == BUILDING:
            # Another process is building it (it holds the build lock), or one that did died.
            return BuildState(BUILDING, str(saved.get("message", "")), saved.get("started_at"))
        return BuildState(NOT_BUILT)

    def ensure(self, plan: Plan, *, what: str) -> Path:
        """The interpreter of ``plan``'s environment once built; until then start the build
        (once) and raise :class:`EnvironmentBuilding`, or :class:`EnvironmentFailed`."""
        state = self.state(plan.key)
        if state.state == READY:
            return self.python(plan.key)
        if state.state == FAILED and time.time() - (state.failed_at or 0) < RETRY_SECONDS:
            raise EnvironmentFailed(
                f"the environment of {what} could not be built: {state.message}"
            )
        self.start(plan)
        state = self.state(plan.key)
        if state.state == READY:
            return self.python(plan.key)
        if state.state == FAILED and time.time() - (state.failed_at or 0) < RETRY_SECONDS:
            raise EnvironmentFailed(
                f"the environment of {what} could not be built: {state.message}"
            )
        raise EnvironmentBuilding(
            f"the environment of {what} is being built from its lock "
            f"({len(plan.pins)} packages): {state.message or 'starting'}; "
            f"try again in a few seconds"
        )

    def start(self, plan: Plan) -> None:
        """Build ``plan``'s environment in the background unless it is built or building."""
        with self._lock:
            thread = self._threads.get(plan.key)
            if thread is not None and thread.is_alive():
                return
            self._progress[plan.key] = "waiting for the build lock"
            thread = threading.Thread(
                target=self._build_logged,
                args=(plan,),
                name=f"model-env-{plan.key[:8]}",
                daemon=True,
            )
            self._threads[plan.key] = thread
            thread.start()

    def wait(self, key: str, timeout: float | None = None) -> BuildState:
        """Wait for this process's build of ``key`` (for tests and jobs)."""
        with self._lock:
            thread = self._threads.get(key)
        if thread is not None:
            thread.join(timeout)
        return self.state(key)

    def _say(self, key: str, message: str) -> None:
        with self._lock:
            self._progress[key] = message

    def _build_logged(self, plan: Plan) -> None:
        try:
            self.build(plan)
        except Exception:  # recorded in state.json by build(); never kills the server
            log.exception("model environment %s: build failed", plan.key)

    def build(self, plan: Plan) -> None:
        """Build ``plan``'s environment now (in this thread), under its file lock."""
        folder = self.folder(plan.key)
        folder.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.root / f"{plan.key}.lock"):
            if self.state(plan.key).state == READY:
                return  # another process built it while this one waited
            started = _now()
            self._write(plan.key, {"state": BUILDING, "message": "starting", "started_at": started})
            partial = folder / f"venv.partial-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            try:
                (folder / "requirements.txt").write_text(plan.requirements(), encoding="utf-8")
                self._step(plan.key, f"creating a Python {plan.python} environment", started)
                self.run_uv(
                    [
                        "venv",
                        "--quiet",
                        "--relocatable",
                        "--python",
                        self._interpreter(plan),
                        str(partial),
                    ],
                    plan.key,
                )
                self._step(plan.key, f"installing {len(plan.pins)} packages", started)
                self.install(plan, partial)
                final = folder / "venv"
                shutil.rmtree(final, ignore_errors=True)
                partial.rename(final)
            except Exception as error:
                shutil.rmtree(partial, ignore_errors=True)
                message = str(error) if isinstance(error, AtelierError) else repr(error)
                self._write(
                    plan.key,
                    {
                        "state": FAILED,
                        "message": message,
                        "started_at": started,
                        "finished_at": _now(),
                        "failed_at": time.time(),
                    },
                )
                raise
            self._write(
                plan.key,
                {
                    "state": READY,
                    "message": f"{len(plan.pins)} packages installed",
                    "started_at": started,
                    "finished_at": _now(),
                },
            )

    def install(self, plan: Plan, venv: Path) -> None:
        """Install the plan's pins into ``venv`` (a hook tests may slow down)."""
        self.run_uv(
            [
                "pip",
                "install",
                "--python",
                str(venv / "bin" / "python"),
                "-r",
                str(self.folder(plan.key) / "requirements.txt"),
            ],
            plan.key,
        )

    @staticmethod
    def _interpreter(plan: Plan) -> str:
        here = f"{sys.version_info[0]}.{sys.version_info[1]}"
        return sys.executable if plan.python == here else plan.python

    def _step(self, key: str, message: str, started: str) -> None:
        self._say(key, message)
        self._write(key, {"state": BUILDING, "message": message, "started_at": started})

    def _write(self, key: str, state: Mapping[str, Any]) -> None:
        path = self.folder(key) / "state.json"
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(dict(state)), encoding="utf-8")
        scratch.replace(path)

    def run_uv(self, args: list[str], key: str) -> None:
        """``uv ARGS``; its progress lines become the build's progress, its reason the
        error.

        uv builds source distributions named by the model's lock, which runs their build
        code: it gets none of the server's secrets (the bucket's credentials among them)."""
        env = {k: v for k, v in without_server_secrets(os.environ).items() if k not in _FOREIGN}
        env.update(UV_PYTHON_DOWNLOADS="never", NO_COLOR="1", COLUMNS="10000")
        process = subprocess.Popen(
            [uv_binary(), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        lines: list[str] = []
        timer = threading.Timer(UV_TIMEOUT, process.kill)
        timer.start()
        try:
            assert process.stderr is not None
            for line in process.stderr:
                lines.append(line)
                text = line.strip()
                if text.startswith(
                    (
                        "Resolved ",
                        "Prepared ",
                        "Installed ",
                        "Downloading ",
                        "Building ",
                        "Using CPython",
                    )
                ):
                    self._say(key, text)
            code = process.wait()
        finally:
            timer.cancel()
            if process.stderr is not None:
                process.stderr.close()
            if process.poll() is None:
                process.kill()
                process.wait()
        if code != 0:
            raise EnvironmentFailed(f"uv {args[0]}: {reason(''.join(lines))}")


def uv_binary() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:  # pragma: no cover - uv is a dependency of atelier
        raise AtelierError("uv is not installed: reinstall atelier (it depends on uv)") from None
    return find_uv_bin()


def reason(stderr: str) -> str:
    """uv's reason for failing: its error and cause lines, not its progress or hints."""
    lines: list[str] = []
    for raw in stderr.splitlines():
        text = raw.strip()
        if not text or text.startswith(("hint:", "Resolved ", "Prepared ", "Using ", "Creating ")):
            continue
        for prefix in ("error: ", "cause: ", "\u00d7 ", "\u2570\u2500\u25b6 "):
            text = text.removeprefix(prefix)
        if text not in lines:
            lines.append(text)
    return "; ".join(lines[:12]) or "uv failed without saying why"


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- workers -------------------------------------------------------------------------------------


def worker_environ(python: Path, home: Path) -> dict[str, str]:
    """What a worker (or a job in a model's environment) sees: the environment's ``bin``
    first on PATH, a private home and temp folder, and nothing of Atelier's."""
    return {
        "PATH": f"{python.parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "VIRTUAL_ENV": str(python.parent.parent),
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }


class WorkerProcess:
    """One running worker: its process, socket and idle connections."""

    def __init__(self, python: Path, model_dir: Path, log_file: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="atelier-model-"))
        self.socket_path = str(self.folder / "w.sock")
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        script = Path(model_worker.__file__)
        with log_file.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    str(python),
                    "-I",
                    str(script),
                    self.socket_path,
                    str(model_dir),
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                env=worker_environ(python, self.folder),
                cwd=self.folder,
                start_new_session=True,  # a Ctrl-C in the server's terminal is the server's
            )
        self.last_used = time.monotonic()
        self._idle: queue.LifoQueue[socket.socket] = queue.LifoQueue()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket_path):
            if self.process.poll() is not None:
                raise EnvironmentFailed(
                    f"the model could not be loaded in its environment: {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EnvironmentFailed(
                    f"the model's worker did not start within {timeout:.0f} s: {self.log_tail()}"
                )
            time.sleep(0.02)

    def log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        useful = [line for line in lines if line.strip()][-LOG_LINES:]
        for line in reversed(useful):  # the exception line says it best
            if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", line):
                return line.strip()
        return " | ".join(line.strip() for line in useful) or "it exited without a word"

    def request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        self.last_used = time.monotonic()
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(self.socket_path)
        try:
            model_worker.send(connection, message)
            answer = model_worker.receive(connection)
        except BaseException:
            connection.close()
            raise
        if answer is None:
            connection.close()
            raise ConnectionError("the model's worker closed the connection")
        self._idle.put(connection)
        return answer

    def stop(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    process: WorkerProcess | None = None


class Workers:
    """Model environments and the worker processes running in them."""

    def __init__(
        self,
        root: Path,
        logs_dir: Path,
        *,
        idle_seconds: float = IDLE_SECONDS,
        start_seconds: float = START_SECONDS,
    ) -> None:
        self.environments = Environments(root)
        self.logs_dir = logs_dir
        self.idle_seconds = idle_seconds
        self.start_seconds = start_seconds
        self._plans: dict[tuple[str, int], Plan | None] = {}
        self._slots: dict[tuple[str, int], _Slot] = {}
        #: Versions whose worker could not load the model: the reason and when.
        self._failed: dict[tuple[str, int], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._here: dict[str, str] | None = None
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None

    def plan(self, info: VersionInfo) -> Plan | None:
        """How ``info`` runs (None: in Atelier's process); remembered per version."""
        key = (info.name, info.version)
        if key not in self._plans:
            if self._here is None:
                self._here = installed_here()
            self._plans[key] = plan_for(Path(info.path), self._here)
        return self._plans[key]

    def status(self, info: VersionInfo, *, start: bool = False) -> dict[str, Any]:
        """Where ``info`` runs and, out of process, the state of its environment; ``start``:
        begin building it if it is not built."""
        try:
            plan = self.plan(info)
        except EnvironmentFailed as error:
            return {
                "runs_in": "own-environment",
                "state": FAILED,
                "message": str(error),
                "reasons": [],
                "environment": None,
            }
        if plan is None:
            return {
                "runs_in": "atelier",
                "state": READY,
                "message": "",
                "reasons": [],
                "environment": None,
            }
        if start and self.environments.state(plan.key).state == NOT_BUILT:
            self.environments.start(plan)
        state = self.environments.state(plan.key)
        with self._lock:
            slot = self._slots.get((info.name, info.version))
        running = slot is not None and slot.process is not None and slot.process.alive
        found = {
            "runs_in": "own-environment",
            "reasons": list(plan.reasons),
            "environment": plan.key,
            "python": plan.python,
            "packages": len(plan.pins),
            "worker": "running" if running else "stopped",
            **state.as_dict(),
        }
        failure = self.failure(info)
        if state.state == READY and failure is not None:
            found.update(state=FAILED, message=failure)
        return found

    def failure(self, info: VersionInfo) -> str | None:
        """Why the worker of ``info`` last failed to load the model (None: it did not, or
        long enough ago to try again)."""
        with self._lock:
            failed = self._failed.get((info.name, info.version))
        if failed is None or time.monotonic() - failed[1] >= RETRY_SECONDS:
            return None
        return failed[0]

    def model(self, info: VersionInfo, card: Mapping[str, Any], plan: Plan) -> WorkerModel:
        what = f"model {info.name} version {info.version}"
        self.environments.ensure(plan, what=what)
        model = WorkerModel(info, card, self, plan)
        return model

    def process(self, info: VersionInfo, plan: Plan) -> WorkerProcess:
        """The running worker of ``info``, started (and waited for) when there is none."""
        if self._closed.is_set():
            raise AtelierError("the model server is closed")
        key = (info.name, info.version)
        with self._lock:
            slot = self._slots.setdefault(key, _Slot())
        with slot.lock:
            if slot.process is not None and slot.process.alive:
                return slot.process
            if slot.process is not None:
                slot.process.stop()
                slot.process = None
            python = self.environments.ensure(
                plan, what=f"model {info.name} version {info.version}"
            )
            failure = self.failure(info)
            if failure is not None:
                raise EnvironmentFailed(failure)
            log_file = self.logs_dir / f"{_safe(info.name)}-{info.version}.log"
            started = WorkerProcess(python, Path(info.path), log_file)
            try:
                started.wait_ready(self.start_seconds)
            except EnvironmentFailed as error:
                started.stop()
                with self._lock:
                    self._failed[key] = (
                        f"model {info.name} version {info.version}: {error}",
                        time.monotonic(),
                    )
                raise EnvironmentFailed(self._failed[key][0]) from None
            except BaseException:
                started.stop()
                raise
            with self._lock:
                self._failed.pop(key, None)
            slot.process = started
        self._start_reaper()
        return started

    def stop(self, name: str, version: int) -> bool:
        """Stop the worker of one version; True when one was running."""
        with self._lock:
            slot = self._slots.get((name, version))
        if slot is None:
            return False
        with slot.lock:
            running = slot.process is not None and slot.process.alive
            if slot.process is not None:
                slot.process.stop()
                slot.process = None
        return running

    def stop_idle(self, idle_seconds: float | None = None) -> list[tuple[str, int]]:
        """Stop the workers that had no request for ``idle_seconds``; which were stopped."""
        limit = self.idle_seconds if idle_seconds is None else idle_seconds
        now = time.monotonic()
        with self._lock:
            slots = list(self._slots.items())
        stopped = []
        for key, slot in slots:
            process = slot.process
            idle = process is not None and now - process.last_used >= limit
            if idle and self.stop(*key):
                stopped.append(key)
        return stopped

    def running(self) -> list[tuple[str, int]]:
        with self._lock:
            slots = list(self._slots.items())
        return [k for k, s in slots if s.process is not None and s.process.alive]

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None:
                return
            self._reaper = threading.Thread(target=self._reap, name="model-workers", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        interval = max(1.0, min(60.0, self.idle_seconds / 4))
        while not self._closed.wait(interval):
            self.stop_idle()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            keys = list(self._slots)
        for key in keys:
            self.stop(*key)


def _wire(value: Any) -> Any:
    """A validated value as JSON carries it to the worker (dates as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]


class WorkerModel(LoadedModel):
    """A registered model version that runs in a worker process, in its own environment:
    the same interface as :class:`LoadedModel`, its signature and example read here from
    ``MLmodel``, its predictions asked of the worker."""

    runtime = "own-environment"

    def __init__(
        self, info: VersionInfo, card: Mapping[str, Any], workers: Workers, plan: Plan
    ) -> None:
        self._read(info, card)
        self.workers = workers
        self.plan = plan
        self.pyfunc = None
        self.raw = None
        described = self._ask({"op": "describe"})
        self.classes = described.get("classes")
        self._probabilities = bool(described.get("has_probabilities"))
        self._categories: dict[str, list[Any]] = dict(described.get("categories") or {})
        self.worker_python = described.get("python")
        self.inference = str(described.get("inference") or "pyfunc")
        self.inference_note = str(described.get("inference_note") or "")
        if self.inference == "scikit-learn":
            log.info("%s version %s is served through scikit-learn in its environment: %s",
                     self.name, self.version, self.inference_note)  # fmt: skip

    def _ask(self, message: Mapping[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            process = self.workers.process(self.info, self.plan)
            try:
                answer = process.request(message)
                break
            except (OSError, ConnectionError):
                # Stopped while idle, or crashed: start it again once.
                if attempt == 2 or self.workers._closed.is_set():
                    raise WorkerError(
                        f"the worker of model {self.name} version {self.version} stopped "
                        f"answering: {process.log_tail()}"
                    ) from None
                self.workers.stop(self.name, self.version)
        if not answer.get("ok"):
            raise WorkerError(
                f"model {self.name} version {self.version} failed in its environment: "
                f"{answer.get('error')}"
            )
        return answer

    @property
    def has_probabilities(self) -> bool:
        return self._probabilities

    def predict(self, frame: pandas.DataFrame) -> list[Output]:
        answer = self._ask({"op": "predict", **model_worker.encode_frame(frame)})
        return self._outputs(answer, len(frame))

    def _outputs(self, answer: Mapping[str, Any], rows: int) -> list[Output]:
        outputs = answer.get("outputs")
        if not isinstance(outputs, list) or len(outputs) != rows:
            raise WorkerError(
                f"model {self.name} version {self.version}: the worker answered "
                f"{len(outputs) if isinstance(outputs, list) else 'no'} predictions for "
                f"{rows} rows"
            )
        return [Output(p, prob, probs) for p, prob, probs in outputs]

    def predict_records(self, rows: Sequence[Mapping[str, Any]]) -> list[Output]:
        """Predictions for validated rows: sent as they are with the column types, the frame
        is made once, in the worker."""
        assert self.schema is not None
        columns = [column.name for column in self.schema.columns]
        message = {
            "op": "predict",
            "validated": True,  # the worker may use its compiled plan (model_worker.Worker)
            "columns": columns,
            "dtypes": self.schema.dtypes(rows),
            "rows": [[_wire(row[name]) for name in columns] for row in rows],
        }
        return self._outputs(self._ask(message), len(rows))

    def categories(self) -> dict[str, list[Any]]:
        given = self.given_categories()
        return given if given is not None else dict(self._categories)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "runtime": {
                "runs_in": self.runtime,
                "environment": self.plan.key,
                "python": self.worker_python,
                "reasons": list(self.plan.reasons),
            },
        }

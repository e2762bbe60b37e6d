"""Shared fixtures: workspaces on SQLite and PostgreSQL, the app in-process, a real server.

Tests that touch metadata take ``metadata_url``, which runs them once on SQLite and once on the
PostgreSQL named by ``ATELIER_TEST_POSTGRES_URL`` (skipped with a reason when unset locally,
an error in CI).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench

POSTGRES_ENV = "ATELIER_TEST_POSTGRES_URL"
#: Session fixtures that several test packages share (one Ray head for all Ray tests).
pytest_plugins = ["tests.ray_cluster"]
if find_spec("xdist") is not None:  # `make test` runs on workers: tests/workers.py
    pytest_plugins.append("tests.workers")


def required_env(name: str) -> str:
    """The variable's value; unset: skip with the reason (fail under CI, where the servers
    these tests need are always there)."""
    value = os.environ.get(name)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"{name} must be set in CI: these tests may not be skipped there")
        pytest.skip(
            f"{name} is not set: tests against this server are skipped (`make test` sets it "
            "when the local server lets the tests in; see docs/development.md)"
        )
    return value


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database of the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@contextmanager
def fresh_postgres_database(prefix: str = "atelier_test", template: str = "") -> Iterator[str]:
    """A new database on the test PostgreSQL server, empty or a copy of ``template``; its URL.
    Dropped afterwards."""
    import psycopg

    admin = required_env(POSTGRES_ENV)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MigratedTemplates:
    """Metadata databases migrated once per test process and copied for each test (a copy
    takes milliseconds on SQLite and half the time of the migrations on PostgreSQL). Every
    test that opens a :class:`Workbench` would otherwise run all the migrations again."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.postgres: str = ""
        self._lock = threading.Lock()

    def sqlite(self) -> Path:
        """A migrated SQLite metadata file (copy it, never open it)."""
        with self._lock:
            if self.folder is None:
                import tempfile

                from atelier.backends.metadata import Database

                folder = Path(tempfile.mkdtemp(prefix="atelier-templates-"))
                db = Database(f"sqlite:///{folder / 'meta.db'}")
                try:
                    db.migrate()
                finally:
                    db.dispose()
                self.folder = folder
            return self.folder / "meta.db"

    def postgres_template(self) -> str:
        """The name of a migrated database on the test PostgreSQL server."""
        with self._lock:
            if not self.postgres:
                import psycopg

                from atelier.backends.metadata import Database

                admin = required_env(POSTGRES_ENV)
                name = f"atelier_template_{uuid.uuid4().hex[:12]}"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                db = Database(with_database(admin, name))
                try:
                    db.migrate()
                finally:
                    db.dispose()  # a template may have no open connection when it is copied
                self.postgres = name
            return self.postgres

    def drop(self) -> None:
        import shutil

        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        if self.postgres:
            import psycopg

            with psycopg.connect(os.environ[POSTGRES_ENV], autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.postgres}" WITH (FORCE)')


TEMPLATES = MigratedTemplates()


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Bytes (often random) are named by their argument: every worker process must collect
    the same test ids."""
    return argname if isinstance(val, bytes) else None


@pytest.fixture(autouse=True, scope="session")
def no_stored_login(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A config folder of the tests' own: a login stored by `atelier login` on this machine
    must not send the tests' commands to that server."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))


@pytest.fixture(autouse=True)
def no_reads_of_earlier_tests() -> Iterator[None]:
    """Run capture remembers the tables this process read (for the next run's data versions):
    what one test read must not appear in the runs of the next."""
    yield
    capture = sys.modules.get("atelier.services.tracking.capture")
    if capture is not None:
        capture.forget_reads()


def leases_later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the leases' clock ``seconds`` ahead: a lease runs out without a wait, and a
    slow machine cannot make one run out before a test looks at it."""
    from datetime import timedelta

    from atelier.services import leases

    now = leases.utcnow
    monkeypatch.setattr(leases, "utcnow", lambda: now() + timedelta(seconds=seconds))


def count_lake_sessions(monkeypatch: pytest.MonkeyPatch, warehouse: Any) -> list[bool]:
    """From now on, each lake session ``warehouse`` opens (each costs tens of milliseconds)
    is noted in the list returned: whether it was read-only."""
    opened: list[bool] = []
    open_session = warehouse._open

    def counting(**kwargs: Any) -> Any:
        opened.append(kwargs["read_only"])
        return open_session(**kwargs)

    monkeypatch.setattr(warehouse, "_open", counting)
    return opened


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; its URL."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty metadata database; already migrated where the test opens a ``workbench``
    (which would migrate it first thing)."""
    migrated = "workbench" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "meta.db"
        if migrated:
            shutil.copyfile(TEMPLATES.sqlite(), path)
        return f"sqlite:///{path}"
    if not migrated:
        url: str = request.getfixturevalue("postgres_database")
        return url
    template = TEMPLATES.postgres_template()
    return request.getfixturevalue("_migrated_postgres_database")(template)  # type: ignore[no-any-return]


@pytest.fixture
def _migrated_postgres_database() -> Iterator[Any]:
    """Makes a copy of a template database for this test, dropped afterwards."""
    with ExitStack() as stack:
        yield lambda template: stack.enter_context(fresh_postgres_database(template=template))


#: Appended to the ``atelier.toml`` of test workspaces: argon2's standard parameters cost
#: 0.15 s a hash here, and the fixtures make several accounts per test.
TEST_SETTINGS = '\n[auth]\npassword_hash_cost = "minimal"\n'


def new_workspace(folder: Path, *, migrated: bool = True) -> Path:
    """``init_workspace(folder)`` with :data:`TEST_SETTINGS` and (``migrated``) a copy of the
    migrated metadata database; its root."""
    root, _ = init_workspace(folder)
    config = root / "atelier.toml"
    config.write_text(config.read_text() + TEST_SETTINGS)
    if migrated:
        shutil.copyfile(TEMPLATES.sqlite(), root / "atelier.db")
    return root


@pytest.fixture
def workspace(tmp_path: Path, metadata_url: str) -> Workspace:
    root = new_workspace(tmp_path / "ws", migrated=False)
    config = root / "atelier.toml"
    config.write_text(config.read_text().replace('\nurl = ""\n', f'\nurl = "{metadata_url}"\n', 1))
    return Workspace.open(root, environ={})


@pytest.fixture
def workbench(workspace: Workspace) -> Iterator[Workbench]:
    wb = Workbench(workspace)
    yield wb
    wb.close()


PASSWORD = "correct horse battery"


@dataclass
class Accounts:
    """One user per role, each with an API token."""

    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def accounts(workbench: Workbench) -> Accounts:
    tokens = {}
    for role in ("admin", "scientist", "viewer"):
        workbench.users.create(f"{role}1", role, PASSWORD)
        tokens[role] = workbench.tokens.create(f"{role}1", "test", 1)[1]
    return Accounts(tokens)


@pytest.fixture
def client(workbench: Workbench) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from atelier.server.app import create_app

    with TestClient(create_app(workbench), base_url="http://127.0.0.1") as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[str]
    workspace: Workspace
    login_link: str | None
    reader: threading.Thread | None = None
    output: list[str] = field(default_factory=list)
    #: The apps origin (hosted apps), another port of the same host; with ``apps_domain``,
    #: a pattern with ``{name}`` in place of the app's name.
    apps_url: str = ""

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=10)
        elif self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_server(workspace: Workspace, *extra: str, apps_domain: str = "") -> RunningServer:
    """``atelier up`` in a subprocess on a free port (and the apps origin on another one);
    returns once /health answers.

    A port found free can be taken by another process (Ray, Jupyter) before the server binds
    it: then it is tried again on another port.
    """
    for _ in range(3):
        try:
            return _start_server(workspace, *extra, apps_domain=apps_domain)
        except PortTaken:
            continue
    raise RuntimeError("atelier up found no free port in 3 tries")


class PortTaken(RuntimeError):
    pass


def _start_server(workspace: Workspace, *extra: str, apps_domain: str = "") -> RunningServer:
    port = free_port()
    apps_port = free_port()
    env = {**os.environ, "ATELIER_WORKSPACE": str(workspace.root)}
    env.setdefault("ATELIER_SERVER_APPS_PORT", str(apps_port))
    if apps_domain:  # one origin per app: NAME.<apps_domain>:<apps port>
        env["ATELIER_SERVER_APPS_DOMAIN"] = f"{apps_domain}:{env['ATELIER_SERVER_APPS_PORT']}"
    # MLflow starts on the first /mlflow request instead: most tests never use it.
    env.setdefault("ATELIER_TRACKING_START_ON_UP", "false")
    env.pop("ATELIER_URL", None)
    env.pop("ATELIER_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "up", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    link = None
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:  # the output ended: the server is ending (maybe not ended yet)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
            output = "".join(seen[-20:])
            if "already in use" in output.lower():
                raise PortTaken(output)
            raise RuntimeError(f"atelier up exited with {process.returncode}:\n{output}")
        seen.append(line)
        if "/login/link?code=" in line:
            link = line.strip()
        if "Uvicorn running" in line or "Application startup complete" in line:
            break
    apps_url = (
        f"http://{{name}}.{env['ATELIER_SERVER_APPS_DOMAIN']}"
        if apps_domain
        else f"http://127.0.0.1:{env['ATELIER_SERVER_APPS_PORT']}"
    )
    server = RunningServer(url, process, workspace, link, apps_url=apps_url)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                server.reader = _drain(process, server.output)
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("atelier up did not become healthy in 60 s")


def _drain(process: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    """Keep reading the server's output so a full pipe never blocks it; close it at the end."""

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            lines.extend(process.stdout)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return reader


@pytest.fixture
def server(workspace: Workspace, workbench: Workbench) -> Iterator[RunningServer]:
    running = start_server(workspace)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """moto's S3 server (see tests/s3_server.py), one per session; a bucket per test."""
    from tests.s3_server import running_s3_server

    with running_s3_server() as running:
        yield running

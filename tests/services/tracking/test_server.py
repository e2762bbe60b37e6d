"""MLflow's server process: where it stores things, its private socket, start, stop, orphans."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.services.tracking import TrackingServer, TrackingStore, TrackingUnavailable
from atelier.services.tracking.server import UPSTREAM_HOST
from atelier.services.tracking.store import SCHEMA, tracking_uri_for_server
from tests.conftest import POSTGRES_ENV, fresh_postgres_database


def make_server(tmp: Path, metadata_url: str) -> TrackingServer:
    store = TrackingStore(metadata_url, tmp / "data")
    return TrackingServer(store, run_dir=tmp / "run", log_path=tmp / "logs" / "mlflow.log")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it has stopped all the same.
    status = Path(f"/proc/{pid}/stat")
    return not status.exists() or status.read_text().split(") ")[1].startswith("Z")


def wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.2)
    return False


# -- where things are kept ---------------------------------------------------------------


def test_sqlite_backend_is_a_sibling_file(tmp_path: Path) -> None:
    store = TrackingStore(f"sqlite:///{tmp_path / 'atelier.db'}", tmp_path / "data")
    assert store.backend_uri == f"sqlite:///{tmp_path / 'atelier.mlflow.db'}"
    assert store.artifacts_dir == tmp_path / "data" / "mlflow" / "artifacts"


def test_postgres_backend_is_a_schema_of_the_same_database(tmp_path: Path) -> None:
    store = TrackingStore("postgresql://ada@db.example:5433/atelier?sslmode=require", tmp_path)
    assert store.backend_uri == (
        "postgresql+psycopg://ada@db.example:5433/atelier"
        f"?sslmode=require&options=-csearch_path%3D{SCHEMA}"
    )


def test_tracking_uri_for_clients_is_the_portal_prefix() -> None:
    assert tracking_uri_for_server("https://atelier.example/") == "https://atelier.example/mlflow"


def test_environment_uses_the_names_mlflow_server_reads(tmp_path: Path) -> None:
    """The variable names are copied from MLflow (importing it would be heavy): still valid?"""
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.origin is not None
    server_dir = Path(spec.origin).parent / "server"
    source = (server_dir / "constants.py").read_text() + (server_dir / "handlers.py").read_text()
    env = make_server(tmp_path, f"sqlite:///{tmp_path / 'a.db'}").environment()
    for constant in (
        "BACKEND_STORE_URI_ENV_VAR",
        "REGISTRY_STORE_URI_ENV_VAR",
        "ARTIFACT_ROOT_ENV_VAR",
        "SERVE_ARTIFACTS_ENV_VAR",
        "ARTIFACTS_DESTINATION_ENV_VAR",
        "STATIC_PREFIX_ENV_VAR",
    ):
        found = re.search(rf'^{constant} = "([^"]+)"', source, re.MULTILINE)
        assert found is not None, constant
        assert found.group(1) in env, constant
    assert env["_MLFLOW_STATIC_PREFIX"] == "/mlflow"
    assert env["_MLFLOW_SERVER_SERVE_ARTIFACTS"] == "true"
    assert env["MLFLOW_SERVER_ALLOWED_HOSTS"] == UPSTREAM_HOST


def test_environment_turns_off_telemetry_and_the_remote_assistant(tmp_path: Path) -> None:
    """Also when Atelier's own environment asks for them: MLflow reads these names."""
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "environment_variables.py").read_text()
    wanted = {"MLFLOW_ENABLE_REMOTE_ASSISTANT": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_ENABLE_REMOTE_ASSISTANT", "true")
        patch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
        env = make_server(tmp_path, f"sqlite:///{tmp_path / 'a.db'}").environment()
    for name, value in wanted.items():
        assert f'"{name}"' in source, name
        assert env[name] == value, name


# -- the running server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    tmp = tmp_path_factory.mktemp("tracking")
    server = make_server(tmp, f"sqlite:///{tmp / 'atelier.db'}")
    server.ensure_started()
    yield server
    server.stop()


def test_listens_only_on_a_private_unix_socket(running: TrackingServer) -> None:
    mode = os.stat(running.socket_path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(running.socket_path.parent).st_mode) == 0o700
    listening = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
    inodes = {
        os.readlink(f"/proc/{running.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{running.pid}/fd")
    }
    socket_inodes = {link[8:-1] for link in inodes if link.startswith("socket:[")}
    tcp_inodes = {line.split()[9] for line in listening.splitlines()[1:]}
    assert not socket_inodes & tcp_inodes, "MLflow's server has a TCP socket open"


def test_serves_mlflow_with_the_default_experiment(running: TrackingServer) -> None:
    experiments = running.api("GET", "experiments/search", params={"max_results": 10})
    assert [e["name"] for e in experiments["experiments"]] == ["Default"]
    assert experiments["experiments"][0]["artifact_location"] == "mlflow-artifacts:/0"


def test_mlflow_host_check_stays_on(running: TrackingServer) -> None:
    """MLflow's own DNS-rebinding guard is configured, not disabled: other Hosts are refused."""
    refused = running.request(
        "GET",
        "/ajax-api/2.0/mlflow/experiments/search",
        params={"max_results": 1},
        headers={"Host": "evil.example"},
    )
    assert refused.status_code == 403
    allowed = running.request(
        "GET", "/ajax-api/2.0/mlflow/experiments/search", params={"max_results": 1}
    )
    assert allowed.status_code == 200


def test_second_start_reuses_the_process(running: TrackingServer) -> None:
    pid = running.pid
    running.ensure_started()
    assert running.pid == pid


def test_stop_ends_the_process_group_and_removes_the_socket(running: TrackingServer) -> None:
    """Runs last of the tests on ``running``: it stops the shared server."""
    pid = running.pid
    assert pid is not None
    running.stop()
    assert gone(pid)
    assert not running.socket_path.exists()
    assert not running.running


def test_never_orphaned_when_atelier_dies(tmp_path: Path) -> None:
    """SIGKILL leaves no chance to clean up: the child notices and stops by itself."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from atelier.services.tracking import TrackingServer, TrackingStore
        tmp = Path({str(tmp_path)!r})
        store = TrackingStore("sqlite:///" + str(tmp / "atelier.db"), tmp / "data")
        server = TrackingServer(store, run_dir=tmp / "run", log_path=tmp / "mlflow.log")
        server.ensure_started()
        print(server.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    assert wait_gone(child), "MLflow's server outlived the Atelier process that started it"


def test_failed_start_reports_the_log(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder is expected")
    server = make_server(tmp_path, f"sqlite:///{blocked / 'atelier.db'}")
    with pytest.raises(TrackingUnavailable) as failure:
        server.ensure_started()
    message = str(failure.value)
    assert "MLflow's server exited" in message
    assert "last log lines" in message
    assert str(server.log_path) in message
    assert not server.running


@pytest.mark.postgres
def test_postgres_tables_live_in_their_own_schema(tmp_path: Path) -> None:
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} is not set")
    import psycopg

    from atelier.backends.metadata import Database

    with fresh_postgres_database() as url:
        database = Database(url)
        database.migrate()
        database.dispose()
        server = make_server(tmp_path, url)
        try:
            server.ensure_started()
            assert server.api("GET", "experiments/search", params={"max_results": 5})
        finally:
            server.stop()
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema IN ('public', %s)",
                (SCHEMA,),
            ).fetchall()
            revisions = [
                conn.execute(f"SELECT version_num FROM {schema}.alembic_version").fetchone()
                for schema in ("public", SCHEMA)
            ]
        mlflow_tables = {name for schema, name in tables if schema == SCHEMA}
        public_tables = {name for schema, name in tables if schema == "public"}
        assert {"experiments", "runs", "registered_models", "alembic_version"} <= mlflow_tables
        assert "experiments" not in public_tables
        # Two migration histories, each in its own alembic_version.
        assert revisions[0] is not None and revisions[1] is not None
        assert revisions[0][0] != revisions[1][0]


def test_stop_does_not_wait_for_a_start_in_progress(tmp_path: Path) -> None:
    server = make_server(tmp_path, f"sqlite:///{tmp_path / 'atelier.db'}")
    starting = server.start_in_background()
    deadline = time.monotonic() + 30
    while server.pid is None and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = server.pid
    assert pid is not None
    server.stop()
    assert gone(pid)
    starting.join(timeout=30)
    assert not starting.is_alive()
    assert not server.running
    # The start was cut short, not waited for.
    assert "stopped while starting" in str(server.last_error)

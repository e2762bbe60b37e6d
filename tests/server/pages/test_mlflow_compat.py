"""The MLflow client surface through Atelier's gateway gives what a plain MLflow server gives.

One client script (``mlflow_compat_client.py``: tracking, datasets, evaluate, autolog, logged
models, registry, traces, prompts, the ``mlflow`` CLI) runs once through a real ``atelier up``
(token in ``MLFLOW_TRACKING_TOKEN``) and once against a plain ``mlflow server`` on the same
kind of store (SQLite backend, ``--serve-artifacts``, static prefix ``/mlflow``); each surface
must give the same meaningful results (ids, times and users left out) on both.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, free_port, start_server

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

CLIENT = Path(__file__).with_name("mlflow_compat_client.py")
SURFACES = (
    "tracking",
    "datasets",
    "evaluate",
    "autolog",
    "logged_models",
    "registry",
    "traces",
    "prompts",
    "cli",
)


def client_env(tracking_uri: str, token: str | None, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ATELIER_"))}
    env.update(
        {
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_ENABLE_ASYNC_TRACE_LOGGING": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
            "HOME": str(home),  # MLflow's caches and config stay in the test's folder
        }
    )
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    return env


def run_client(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(CLIENT)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    return result


@contextlib.contextmanager
def plain_mlflow(folder: Path) -> Iterator[str]:
    """``mlflow server`` configured as Atelier runs its own, on a loopback port."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"})
    log = open(folder / "mlflow.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1"),
            *("--port", str(port), "--workers", "1"),
            *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
            *("--serve-artifacts", "--artifacts-destination", str(folder / "artifacts")),
            *("--static-prefix", "/mlflow"),
        ],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/mlflow"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError((folder / "mlflow.log").read_text()[-3000:])
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("plain mlflow server did not answer in 180 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """The client script's results through Atelier and on plain MLflow."""
    base = tmp_path_factory.mktemp("compat")
    root, _ = init_workspace(base / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    workbench.users.create("scientist1", "scientist", PASSWORD)
    token = workbench.tokens.create("scientist1", "compat", 1)[1]
    server = start_server(workbench.workspace)
    try:
        # The two clients run at once: each mostly waits on its server.
        with plain_mlflow(base / "plain") as plain_url, ThreadPoolExecutor(2) as pool:
            on_atelier = pool.submit(
                run_client, client_env(f"{server.url}/mlflow", token, base / "home-a"), base / "ws"
            )
            on_plain = pool.submit(
                run_client, client_env(plain_url, None, base / "home-p"), base / "plain"
            )
            atelier, plain = on_atelier.result(), on_plain.result()
        artifacts = str(workbench.tracking_server.store.artifacts_dir)
        yield {"atelier": atelier, "plain": plain, "store": {"artifacts": artifacts}}
    finally:
        server.stop()
        workbench.close()


@pytest.mark.parametrize("surface", SURFACES)
def test_surface_matches_plain_mlflow(both: dict[str, dict[str, Any]], surface: str) -> None:
    plain = both["plain"][surface]
    atelier = both["atelier"][surface]
    assert "error" not in plain, plain.get("trace")
    assert "error" not in atelier, atelier.get("trace")
    assert atelier == plain


def test_everything_was_written_inside_the_store(both: dict[str, dict[str, Any]]) -> None:
    """Artifacts of every surface landed under the workspace's artifact store."""
    artifacts = Path(both["store"]["artifacts"])
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert any(p.name == "hello.txt" for p in files)
    assert any(p.name == "MLmodel" for p in files)

"""A model's worker process, and the uv that builds its environment, get none of the server's
secrets: the worker reads the model's files from a local folder the server fills."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from atelier.services.serving import workers
from atelier.services.serving.workers import Environments, WorkerProcess
from tests.config.test_child_env import SECRETS


def _env_dumper(path: Path, dump: Path) -> Path:
    """An executable at ``path`` that writes its environment to ``dump`` and exits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nenv > '{dump}'\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _read_env(dump: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in dump.read_text(encoding="utf-8").splitlines())
    return {name: value for name, _, value in pairs if name}


@pytest.fixture
def server_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("server_secrets")
def test_a_worker_process_inherits_no_secret(tmp_path: Path) -> None:
    dump = tmp_path / "worker.env"
    python = _env_dumper(tmp_path / "venv" / "bin" / "python", dump)
    worker = WorkerProcess(python, tmp_path / "model", tmp_path / "logs" / "worker.log")
    try:
        assert worker.process.wait(30) == 0
    finally:
        worker.stop()
    seen = _read_env(dump)
    assert seen["PATH"].startswith(str(python.parent))  # it did run, with the worker's env
    assert not set(SECRETS) & set(seen)
    assert not any(value in SECRETS.values() for value in seen.values())


@pytest.mark.usefixtures("server_secrets")
def test_uv_building_a_model_environment_inherits_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uv runs the build code of source distributions a model's lock names: user code.
    dump = tmp_path / "uv.env"
    uv = _env_dumper(tmp_path / "bin" / "uv", dump)
    monkeypatch.setattr(workers, "uv_binary", lambda: str(uv))
    monkeypatch.setenv("ATELIER_UV_PROBE", "kept")
    environments = Environments(tmp_path / "envs")
    environments.folder("k").mkdir(parents=True)
    environments.run_uv(["venv", str(tmp_path / "venv")], "k")
    seen = _read_env(dump)
    assert seen["ATELIER_UV_PROBE"] == "kept"  # the rest of the environment is passed on
    assert seen["UV_PYTHON_DOWNLOADS"] == "never"
    assert not set(SECRETS) & set(seen)
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "aws-secret"  # the server keeps its own

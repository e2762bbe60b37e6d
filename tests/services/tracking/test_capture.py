"""Run capture: tags and artifacts on plain MLflow runs, table versions read through the SDK."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.services.tracking import capture
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS, Tracking, tracking

__all__ = ["tracking"]
pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]


@pytest.fixture(autouse=True)
def fresh_capture(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("ATELIER_PROJECT", "ATELIER_PROFILE", "ATELIER_URL", "ATELIER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    capture.enable(False)
    capture.forget_reads()
    yield
    capture.enable(False)
    capture.forget_reads()


def test_tables_read_are_found_by_parsing_not_running() -> None:
    sql = """
        WITH recent AS (SELECT * FROM bank.transactions)
        SELECT * FROM recent JOIN bank.customers AT (VERSION => 3) USING (customer_id),
             lake.bank.accounts, churn_labels, crm.public.contacts, read_parquet('/nope/*.pq')
    """
    assert sorted(capture.referenced_tables(sql)) == [
        ("bank.accounts", None, False),
        ("bank.customers", 3, False),
        ("bank.transactions", None, False),
        ("crm.public.contacts", None, True),
        ("main.churn_labels", None, False),
    ]
    assert capture.referenced_tables("SELEKT nonsense") == []


def test_reads_are_not_recorded_unless_capture_is_on() -> None:
    asked = []
    capture.note_read("SELECT * FROM bank.customers", lambda: asked.append(1) or 7)
    assert capture.data_versions() == [] and asked == []
    capture.enable()
    capture.note_read("SELECT * FROM bank.customers", lambda: 7)
    capture.note_read("SELECT * FROM bank.customers AT (VERSION => 2)", lambda: 9)
    capture.note_read("SELECT * FROM crm.public.contacts", lambda: 9)
    assert capture.data_versions() == [
        {"table": "bank.customers", "version": 7},
        {"table": "bank.customers", "version": 2},
        {"table": "crm.public.contacts", "version": None},
    ]


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.org", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "churn"
    (folder / "src").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "churn"\nversion = "0"\n')
    (folder / "uv.lock").write_text('version = 1\n[[package]]\nname = "scikit-learn"\n')
    (folder / "train.py").write_text("print('v1')\n")
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "first")
    (folder / "train.py").write_text("print('v2')\n")
    monkeypatch.chdir(folder / "src")
    return folder


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Any]:
    import pandas as pd

    from atelier.config import Workspace, init_workspace
    from atelier.sdk.embedded import EmbeddedClient

    root, _ = init_workspace(tmp_path / "ws")
    client = EmbeddedClient(Workspace.open(root, environ={}))
    client.upload(pd.DataFrame({"customer_id": [1, 2], "segment": ["a", "b"]}), "bank.customers")
    client.upload(
        pd.DataFrame({"customer_id": [3], "segment": ["c"]}), "bank.customers", mode="append"
    )
    yield client
    client.close()


def test_a_plain_mlflow_run_in_a_project_captures_everything(
    tracking: Tracking, project: Path, ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("ATELIER_PROJECT", "churn")
    monkeypatch.setenv("ATELIER_PROFILE", "small")
    capture.install()
    assert len(ws.sql("SELECT * FROM bank.customers")) == 3
    versions = [v.snapshot_id for v in ws.workbench.warehouse.snapshots("customers", schema="bank")]
    first, latest = versions[0], versions[-1]
    with mlflow.start_run() as run:
        ws.table("bank.customers", version=first)  # a read during the run updates its tag
    client = mlflow.MlflowClient()
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["atelier.user"] == ws.whoami()["name"]
    assert tags["atelier.project"] == "churn"
    assert tags["atelier.profile"] == "small"
    assert tags["atelier.git.commit"] == git(project, "rev-parse", "HEAD")
    assert tags["atelier.git.dirty"] == "true"
    assert json.loads(tags["atelier.data_versions"]) == [
        {"table": "bank.customers", "version": latest},
        {"table": "bank.customers", "version": first},
    ]
    folder = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=""))
    assert (folder / "atelier.lock").read_text() == (project / "uv.lock").read_text()
    assert "+print('v2')" in (folder / "atelier.diff").read_text()
    packages = (folder / "atelier.packages.txt").read_text().splitlines()
    assert f"mlflow=={mlflow.__version__}" in packages


def test_outside_a_project_runs_are_left_alone(
    tracking: Tracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)
    capture.install()
    with mlflow.start_run() as run:
        pass
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    assert not any(key.startswith("atelier.") for key in tags)
    assert mlflow.MlflowClient().list_artifacts(run.info.run_id) == []


def test_explicit_start_run_captures_without_a_project(
    tracking: Tracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    import atelier.tracking

    monkeypatch.chdir(tmp_path)  # no pyproject.toml: no lock, no git
    with atelier.tracking.start_run(run_name="by hand") as run:
        pass
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["atelier.data_versions"] == "[]"
    assert "atelier.lock.sha256" not in tags and "atelier.git.commit" not in tags
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert names == {"atelier.packages.txt"}


def test_the_provider_alone_installs_the_artifact_hook(
    tracking: Tracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when MLflow loads the provider from its entry point and nobody called install()."""
    import mlflow
    from mlflow.tracking.client import MlflowClient

    capture.install()
    monkeypatch.setattr(MlflowClient, "create_run", MlflowClient.create_run.__wrapped__)
    monkeypatch.setenv("ATELIER_PROJECT", "churn")
    monkeypatch.chdir(tmp_path)
    with mlflow.start_run() as run:
        pass
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert names == {"atelier.packages.txt"}
    assert getattr(MlflowClient.create_run, "_atelier_capture", False)

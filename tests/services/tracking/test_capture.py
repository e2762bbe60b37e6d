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


def test_the_commit_is_the_projects_not_the_repository_around_it(
    tracking: Tracking, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    outer = tmp_path / "outer"
    folder = outer / "projects" / "churn"
    folder.mkdir(parents=True)
    (outer / "README").write_text("the repository Atelier might run from\n")
    git(outer, "init", "-q")
    git(outer, "add", ".")
    git(outer, "commit", "-q", "-m", "outer")
    (folder / "pyproject.toml").write_text('[project]\nname = "churn"\nversion = "0"\n')
    (folder / "train.py").write_text("print('v1')\n")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("ATELIER_PROJECT", "churn")
    capture.install()
    assert capture.git_head(folder) is None
    with mlflow.start_run() as run:
        pass
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    outer_commit = git(outer, "rev-parse", "HEAD")
    assert outer_commit not in tags.values()
    assert not {"atelier.git.commit", "mlflow.source.git.commit"} & set(tags)

    git(folder, "init", "-q", "-b", "trunk")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "own")
    with mlflow.start_run() as run:
        pass
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    own = git(folder, "rev-parse", "HEAD")
    assert tags["atelier.git.commit"] == tags["mlflow.source.git.commit"] == own != outer_commit
    assert tags["atelier.git.branch"] == "trunk"
    assert tags["atelier.git.dirty"] == "false"


def test_git_head_reads_the_repository_files(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    assert capture.git_head(folder) is None
    git(folder, "init", "-q", "-b", "main")
    assert capture.git_head(folder) is None  # no commit yet
    (folder / "a").write_text("a\n")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "a")
    first = git(folder, "rev-parse", "HEAD")
    assert capture.git_head(folder) == (first, "main")
    git(folder, "pack-refs", "--all")  # the branch now only in packed-refs
    assert not (folder / ".git" / "refs" / "heads" / "main").exists()
    assert capture.git_head(folder) == (first, "main")
    git(folder, "checkout", "-q", "--detach")
    assert capture.git_head(folder) == (first, None)
    git(folder, "checkout", "-q", "main")
    git(folder, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
    assert capture.git_head(tmp_path / "side") == (first, "side")
    (folder / ".git" / "HEAD").write_text("ref: refs/../../../etc/passwd\n")
    assert capture.git_head(folder) is None


def test_git_runs_without_the_projects_fsmonitor_or_external_diff(
    project: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "hostile.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    git(project, "config", "core.fsmonitor", str(script))
    git(project, "config", "diff.external", str(script))
    git(project, "config", "core.hooksPath", str(tmp_path))
    environment = capture.gather()
    assert "+print('v2')" in environment.files["atelier.diff"]
    assert environment.tags["atelier.git.dirty"] == "true"
    assert not marker.exists()

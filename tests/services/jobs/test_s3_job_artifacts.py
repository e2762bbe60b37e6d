"""With ``[storage]``, an ended job's folder and log are copied to the bucket (moto's S3
server here), and a second server of the workspace that has none of them on its disk reads
the executed notebook, the samples and the log from there."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from atelier.backends.storage import ObjectStore
from atelier.config import Workspace
from atelier.services.jobs.paths import JobPaths
from tests.s3_server import S3Server
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench


def test_an_ended_jobs_files_are_in_the_bucket_for_every_server(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat

    store: ObjectStore = s3_server.new_store(prefix="teams/ml")
    environ = s3_server.environment(store)
    for name, value in environ.items():  # the job's supervisor, a server process, reads them
        monkeypatch.setenv(name, value)
    first = Workspace.open(jobs_workspace(tmp_path / "a").root, environ=environ)
    # Another machine: its own folder, the same metadata database and bucket.
    second_root = jobs_workspace(tmp_path / "b", metadata_url=first.metadata_url).root
    second = Workspace.open(second_root, environ=environ)

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("print('six times seven is', 6 * 7)")]
    nbformat.write(notebook, tmp_path / "report.ipynb")
    with open_jobs_workbench(first) as wb:
        job = wb.jobs.submit(["report.ipynb"], principal=wb.owner(), cwd=tmp_path)
        done = wb.jobs.wait(job.id, 240)
        log = wb.jobs.read_log(job.id)[0]
        assert done.state == "succeeded", log
        assert done.output is not None
        executed = done.output.read_bytes()
        samples = wb.jobs.samples(job.id)["samples"]

    folder = JobPaths(first.root, job.id).artifacts
    here = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert "report.ipynb" in here
    base = f"teams/ml/jobs/{job.id}/"
    keys = store.keys_under(store.url("jobs", str(job.id)))
    assert sorted(k.removeprefix(base) for k in keys) == here
    assert store.read_text(store.url("jobs", f"{job.id}.log")) == log
    assert "six times seven is 42" in log

    assert not JobPaths(second.root, job.id).artifacts.exists()
    with open_jobs_workbench(second) as other:
        seen = other.jobs.get(job.id)
        assert seen.state == "succeeded"
        assert seen.output is not None and seen.output.is_relative_to(second.root)
        assert seen.output.read_bytes() == executed
        assert other.jobs.read_log(job.id)[0] == log
        assert other.jobs.samples(job.id)["samples"] == samples
    # One file at a time: the rest of the folder stays in the bucket until asked for.
    brought = JobPaths(second.root, job.id).artifacts
    assert {p.name for p in brought.iterdir()} <= {"report.ipynb", "resources.jsonl"}


def test_a_bucket_out_of_reach_does_not_stop_a_job_ending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from atelier.config.settings import StorageSettings
    from atelier.services.jobs import artifacts
    from atelier.services.jobs.artifacts import persist

    # Heard at the module's logger itself: an earlier test in the process may have
    # configured the server's logging, whose loggers do not pass records up to the root.
    artifacts.log.addHandler(caplog.handler)
    monkeypatch.setattr(artifacts.log, "disabled", False)
    monkeypatch.setattr(artifacts.log, "level", logging.WARNING)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = SimpleNamespace(storage=StorageSettings(bucket="atelier-nowhere"))
    JobPaths(tmp_path, 3).log.parent.mkdir(parents=True)
    JobPaths(tmp_path, 3).log.write_text("done\n")
    try:
        persist(settings, tmp_path, 3)  # no credentials on this machine: logged, not raised
    finally:
        artifacts.log.removeHandler(caplog.handler)
    assert "job 3: could not copy its artifacts to the bucket" in caplog.text

"""Pulling and pushing a project's files: who may, and what a hostile archive gets."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from atelier.contract.trees import files_of, unpack
from atelier.errors import InvalidInput, PermissionDenied
from atelier.services.auth import scopes
from tests.services.projects.conftest import Bench


def archive(*members: tarfile.TarInfo | tuple[str, bytes]) -> io.BytesIO:
    """A tar.gz of files ``(name, content)`` and hand-made members (links, devices...)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, content = member
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


def special(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_pull_is_for_members_and_admins(bench: Bench, tmp_path: Path) -> None:
    files, p = bench.wb.projects.files, bench.people
    folder = bench.alpha.path
    (folder / "src" / "__pycache__").mkdir(exist_ok=True)
    (folder / "src" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (folder / "src" / "model.py").write_text("K = 1\n")
    (folder / "link.py").symlink_to("/etc/passwd")
    for outsider in ("cy", "val"):
        with pytest.raises(PermissionDenied, match=f"{outsider} is not a member of project"):
            files.pull("alpha", p[outsider])
    refused = bench.wb.audit.entries(action="project.pull", limit=1)[0]
    assert (refused.actor, refused.success) == ("val", False)

    for person in ("ada", "root"):
        pulled = unpack(io.BytesIO(files.pull("alpha", p[person], client="cli")), tmp_path / person)
        # No environment, no caches, no links: what git would commit.
        assert pulled == [
            ".gitignore",
            "notebooks/start.ipynb",
            "pyproject.toml",
            "src/model.py",
            "uv.lock",
        ]
    entry = bench.wb.audit.entries(action="project.pull", limit=1)[0]
    assert (entry.actor, entry.success, entry.client) == ("root", True, "cli")
    (folder / "link.py").unlink()


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ([("../escape.py", b"x")], "paths must stay inside the tree"),
        ([("src/../../escape.py", b"x")], "paths must stay inside the tree"),
        ([("/tmp/escape.py", b"x")], "absolute paths are refused"),
        ([special("evil", tarfile.SYMTYPE, "/etc")], "links are refused"),
        ([special("evil", tarfile.LNKTYPE, "/etc/passwd")], "links are refused"),
        ([special("dev", tarfile.CHRTYPE)], "only files and folders"),
        ([special("fifo", tarfile.FIFOTYPE)], "only files and folders"),
        ([(".venv/bin/python", b"#!/bin/sh\n")], "are not pushed"),
        ([(".git/hooks/post-checkout", b"#!/bin/sh\n")], "are not pushed"),
        ([("a.py", b"1"), ("a.py", b"2")], "appears twice"),
        ([("a.py", b"1"), ("a.py/b.py", b"2")], "a.py is also a file"),
        ([(".atelier-project", b"[1, 2]")], "not a pulled project's marker"),
    ],
)
def test_hostile_pushes_change_nothing(
    bench: Bench, members: list[tarfile.TarInfo | tuple[str, bytes]], error: str
) -> None:
    folder = bench.beta.path
    before = sorted(files_of(folder))
    with pytest.raises(InvalidInput, match=error):
        bench.wb.projects.files.push("beta", archive(*members), bench.people["bob"])
    assert sorted(files_of(folder)) == before
    assert not (folder.parent / "escape.py").exists() and not Path("/tmp/escape.py").exists()
    entry = bench.wb.audit.entries(action="project.push", limit=1)[0]
    assert (entry.actor, entry.success) == ("bob", False)


def test_push_refusals_come_before_the_archive_is_read(bench: Bench) -> None:
    files, p = bench.wb.projects.files, bench.people
    for outsider in ("cy", "val"):
        with pytest.raises(PermissionDenied, match="is not a member of project 'beta'"):
            files.push("beta", io.BytesIO(b"not even an archive"), p[outsider])
    with pytest.raises(InvalidInput, match=r"not a tar\.gz archive"):
        files.push("beta", io.BytesIO(b"not even an archive"), p["bob"])


def test_push_does_not_write_through_a_link_in_the_project(bench: Bench, tmp_path: Path) -> None:
    """A link made in the project's folder (say from a notebook) is not a way out."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (bench.beta.path / "out").symlink_to(outside)
    try:
        with pytest.raises(InvalidInput, match="out is a link; refusing to write"):
            bench.wb.projects.files.push(
                "beta", archive(("out/x.py", b"1")), bench.people["bob"], force=True
            )
    finally:
        (bench.beta.path / "out").unlink()
    assert list(outside.iterdir()) == []


def test_a_pull_never_runs_the_projects_git(bench: Bench, tmp_path: Path) -> None:
    """git runs what a repository's configuration names: the server reads .gitignore itself."""
    folder = bench.beta.path
    ran = tmp_path / "ran"
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(
        ["git", "-C", str(folder), "config", "core.fsmonitor", f"touch {ran}; false"], check=True
    )
    (folder / "tracked.py").write_text("")
    try:
        pulled = io.BytesIO(bench.wb.projects.files.pull("beta", bench.people["bob"]))
        with tarfile.open(fileobj=pulled) as tar:
            names = tar.getnames()
    finally:
        shutil.rmtree(folder / ".git")
        (folder / "tracked.py").unlink()
    assert "tracked.py" in names and not any(n.startswith(".git/") for n in names)
    assert not ran.exists()


def test_a_file_in_the_way_is_refused_before_anything_is_written(bench: Bench) -> None:
    with pytest.raises(InvalidInput, match=r"pyproject\.toml is a file, not a folder"):
        bench.wb.projects.files.push(
            "beta",
            archive(("new.py", b""), ("pyproject.toml/x.py", b"")),
            bench.people["bob"],
            force=True,
        )
    assert not (bench.beta.path / "new.py").exists()


def test_the_service_applies_the_rules_whoever_calls_it(bench: Bench) -> None:
    """Viewers, and code tokens beyond their scopes, are refused by the service itself (the
    embedded SDK calls it without the API's guards)."""
    projects, ada = bench.wb.projects, bench.people["ada"]
    job = replace(ada, via="token", scopes=scopes.WORK, label="job 3")
    app = replace(ada, via="token", scopes=scopes.APP, label="app churn")
    # A job of a member reads and changes the environment (projects scope)...
    assert [p.name for p in projects.list(by=job)] == ["alpha", "beta"]
    assert projects.env.show("alpha", by=job).requirements == ("ipykernel",)
    # ... but neither pulls, pushes nor manages members: those are for people.
    for attempt in (
        lambda: projects.files.pull("alpha", job),
        lambda: projects.files.push("alpha", archive(("a.py", b"")), job),
        lambda: projects.add_member("alpha", "cy", job),
    ):
        with pytest.raises(PermissionDenied, match="the token 'job 3' is for code and may not"):
            attempt()
    # An app's token has no projects scope; a viewer does not use projects.
    for attempt in (
        lambda: projects.list(by=app),
        lambda: projects.get("alpha", by=app),
        lambda: projects.env.show("alpha", by=app),
        lambda: projects.env.add("alpha", ["six"], app),
    ):
        with pytest.raises(PermissionDenied, match="the token 'app churn' is for code"):
            attempt()
    with pytest.raises(PermissionDenied, match=r"val \(viewer\) may not use projects"):
        projects.list(by=bench.people["val"])
    assert not (bench.alpha.path / "a.py").exists()

"""Projects are git repositories: made with a first commit by their creator, or cloned from a
repository (a local bare one here), and the clone URLs a hostile colleague would try."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from atelier.errors import InvalidInput
from atelier.services.projects.git import check_url, shown
from tests.services.projects.conftest import Bench


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_new_project_is_a_repository_with_a_first_commit_by_its_creator(bench: Bench) -> None:
    folder = bench.alpha.path
    assert git(folder, "branch", "--show-current") == "main"
    assert git(folder, "log", "--format=%an <%ae>|%cn|%s") == (
        "ada <ada@atelier.localhost>|ada|Create project alpha"
    )
    tracked = git(folder, "ls-files").splitlines()
    assert {"pyproject.toml", "uv.lock", ".gitignore", "notebooks/start.ipynb"} <= set(tracked)
    assert not any(name.startswith(".venv/") for name in tracked)
    assert git(folder, "status", "--porcelain") == ""  # the environment is ignored
    # Notebook-aware diffs (nbdime) for this repository.
    assert "nbdime" in git(folder, "config", "--local", "diff.jupyternotebook.command")
    attributes = (folder / ".git" / "info" / "attributes").read_text(encoding="utf-8")
    assert "*.ipynb diff=jupyternotebook" in attributes


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository with a notebook and a pyproject.toml without ipykernel."""
    roots = tmp_path_factory.mktemp("git")
    work = roots / "work"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    (work / "pyproject.toml").write_text(
        '[project]\nname = "team-churn"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["six==1.17.0"]\n',
        encoding="utf-8",
    )
    (work / "analysis.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
        encoding="utf-8",
    )
    git(work, "add", "--all")
    git(work, "-c", "user.name=eve", "-c", "user.email=eve@x", "commit", "--quiet", "-m", "start")
    bare = roots / "allowed" / "churn.git"
    git(roots, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare


def test_clone_a_repository_into_a_project(bench: Bench, origin: Path) -> None:
    projects, ada = bench.wb.projects, bench.people["ada"]
    projects.clone_roots = [str(origin.parent)]
    try:
        made = projects.create("cloned", ada, git_url=f"file://{origin}")
    finally:
        projects.clone_roots = []
    folder = made.path
    assert git(folder, "log", "--format=%an|%s") == "eve|start"  # the history came along
    assert (folder / "analysis.ipynb").is_file() and (folder / "notebooks").is_dir()
    # Notebooks need a kernel: ipykernel was added to the project's own requirements.
    pyproject = (folder / "pyproject.toml").read_text(encoding="utf-8")
    assert "ipykernel" in pyproject and "six==1.17.0" in pyproject
    assert made.python.exists()
    # Atelier's files stay out of the history without touching the repository's files.
    assert ".venv" not in git(folder, "status", "--porcelain")
    entry = bench.wb.audit.entries(action="project.create")[0]
    assert entry.detail == {"from": f"file://{origin}"}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ext::sh -c touch% /tmp/pwned", "transport helpers"),
        ("--upload-pack=touch /tmp/pwned", "not a repository address"),
        ("/etc", "clone_roots"),
        ("file:///etc", "clone_roots"),
        ("relative/repo", "absolute path"),
        ("http://example.com/x.git", "use https://"),
        ("ftp://example.com/x.git", "use https://"),
        ("https:///x.git", "names no host"),
        ("https://example.com/x.git\n--config=x", "not a repository address"),
    ],
)
def test_clone_urls_that_are_refused(url: str, why: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=why):
        check_url(url, [str(tmp_path / "allowed")])


def test_a_local_path_that_leaves_the_allowed_folder_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    (allowed / "repo.git").mkdir(parents=True)
    (tmp_path / "secret.git").mkdir()
    (allowed / "link.git").symlink_to(tmp_path / "secret.git")
    assert check_url(str(allowed / "repo.git"), [str(allowed)]) == (
        str(allowed / "repo.git"),
        "file",
    )
    for escaping in (f"{allowed}/../secret.git", f"{allowed}/link.git"):
        with pytest.raises(InvalidInput, match="clone_roots"):
            check_url(escaping, [str(allowed)])
    assert check_url("git@github.com:team/churn.git", []) == (
        "git@github.com:team/churn.git",
        "ssh",
    )


def test_a_failed_clone_leaves_nothing_and_shows_no_credentials(bench: Bench) -> None:
    projects, ada = bench.wb.projects, bench.people["ada"]
    url = "https://ada:s3cret@127.0.0.1:9/team/churn.git"
    with pytest.raises(InvalidInput) as failed:
        projects.create("nothing", ada, git_url=url)
    assert "s3cret" not in str(failed.value) and "could not clone" in str(failed.value)
    assert shown(url) == "https://127.0.0.1:9/team/churn.git"
    assert not (projects.folder / "nothing").exists()
    assert not [p for p in projects.folder.iterdir() if p.name.startswith(".nothing")]
    assert "nothing" not in [p.name for p in projects.list()]


def test_a_clone_uses_none_of_the_servers_git_settings_or_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's own git config (URL rewrites, credential helpers) and secrets stay out of
    a user's clone: git run with the clone's environment reads none of them."""
    from atelier.services.projects.git import clone_env, identity

    home = tmp_path / "server-home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        '[url "file:///srv/private/"]\n\tinsteadOf = https://git.example/\n'
        "[credential]\n\thelper = store\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ATELIER_SECRETS_KEY", "server-only")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    server = subprocess.run(
        ["git", "config", "--get-regexp", "^(url|credential)"], capture_output=True, text=True
    )
    assert "insteadof" in server.stdout.lower() and "store" in server.stdout  # what it would use
    empty = tmp_path / "clone-home"
    empty.mkdir()
    env = clone_env(identity("ada"), "https", empty)
    assert "ATELIER_SECRETS_KEY" not in env and "SSH_AUTH_SOCK" not in env
    seen = subprocess.run(
        ["git", "config", "--get-regexp", "^(url|credential)"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "insteadof" not in seen.stdout.lower() and "store" not in seen.stdout

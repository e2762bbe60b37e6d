"""`atelier projects` and `atelier env` as users run them, on one workspace and one project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.config import init_workspace
from tests.cli.helpers import atelier, one_line_error


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with project ``demo``, made through the CLI."""
    root, _ = init_workspace(tmp_path_factory.mktemp("cli-projects") / "ws")
    created = atelier("projects", "create", "demo", "--description", "Demo work", cwd=root)
    assert created.returncode == 0, created.stderr
    assert f"Created project demo in {root / 'projects' / 'demo'}" in created.stdout
    return root


def test_list_show_and_duplicates(root: Path) -> None:
    listed = atelier("projects", "list", cwd=root)
    assert listed.returncode == 0 and listed.stdout.startswith("demo ")
    assert "Demo work" in listed.stdout
    shown = json.loads(atelier("projects", "show", "demo", "--json", cwd=root).stdout)
    assert shown["environment"]["requirements"] == ["ipykernel"]
    assert [m["role"] for m in shown["members"]] == ["owner"]
    assert "already exists" in one_line_error(atelier("projects", "create", "demo", cwd=root))
    assert "project 'nope' not found" in one_line_error(
        atelier("projects", "show", "nope", cwd=root)
    )


def test_env_add_show_remove_in_the_project_folder(root: Path) -> None:
    here = root / "projects" / "demo" / "notebooks"
    added = atelier("env", "add", "six==1.17.0", cwd=here)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "Added six 1.17.0 to demo"
    shown = atelier("env", "show", cwd=here)
    assert "six                              1.17.0" in shown.stdout

    failed = one_line_error(atelier("env", "add", "six==0.0.1", cwd=here))
    assert "there is no version of six==0.0.1" in failed and "unchanged" in failed
    removed = atelier("env", "remove", "six", "--project", "demo", cwd=root)
    assert removed.returncode == 0, removed.stderr
    as_json = json.loads(
        atelier("env", "show", "--json", cwd=root, env={"ATELIER_PROJECT": "demo"}).stdout
    )
    assert as_json["requirements"] == ["ipykernel"]  # the failed add left nothing behind


def test_env_needs_a_project(root: Path) -> None:
    error = one_line_error(atelier("env", "show", cwd=root))
    assert "pass --project NAME, run this inside a project folder, or set ATELIER_PROJECT" in error


def test_members(root: Path) -> None:
    made = atelier(
        "users",
        "create",
        "ada",
        "--role",
        "scientist",
        "--password-stdin",
        cwd=root,
        stdin="correct horse battery\n",
    )
    assert made.returncode == 0, made.stderr
    added = atelier("projects", "members", "add", "demo", "ada", cwd=root)
    assert added.stdout.strip() == "ada is now a member of project demo"
    removed = atelier("projects", "members", "remove", "demo", "ada", cwd=root)
    assert removed.stdout.strip() == "Removed ada from project demo"
    assert "ada is not a member" in one_line_error(
        atelier("projects", "members", "remove", "demo", "ada", cwd=root)
    )

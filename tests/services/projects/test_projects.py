"""Projects: the folder and environment a project gets, names, members, and failed creations."""

from __future__ import annotations

import io
import json
import sys
import tomllib
from pathlib import Path

import pytest

from atelier.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.notebooks.kernelspecs import kernel_name
from atelier.services.projects import project_name_for_path
from atelier.services.projects.layout import BASE_LINK, site_packages
from atelier.services.projects.uvtool import UvFailed
from atelier.services.workbench import Workbench
from tests.services.projects.conftest import Bench, principal, run_python


def test_a_project_is_a_folder_with_a_locked_environment(bench: Bench) -> None:
    alpha = bench.alpha
    assert alpha.path == bench.wb.workspace.root / "projects" / "alpha"
    assert (alpha.path / "notebooks").is_dir() and (alpha.path / "src").is_dir()
    # The starter notebook is copied when Atelier ships one.
    starter = json.loads((alpha.notebooks / "start.ipynb").read_text(encoding="utf-8"))
    assert starter["metadata"]["kernelspec"]["name"] == kernel_name(alpha.name)
    meta = tomllib.loads((alpha.path / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "alpha"
    assert meta["dependencies"] == ["ipykernel"]
    assert meta["requires-python"] == f"=={sys.version_info[0]}.{sys.version_info[1]}.*"
    lock = tomllib.loads((alpha.path / "uv.lock").read_text())
    assert "ipykernel" in {p["name"] for p in lock["package"]}
    assert alpha.python.is_file()
    assert (site_packages(alpha.venv) / BASE_LINK).is_file()
    # Nothing is left from the staging folder it was built in.
    assert sorted(p.name for p in alpha.path.parent.iterdir()) == ["alpha", "beta"]
    assert [(m.name, m.role) for m in alpha.members] == [("ada", "owner")]
    assert alpha.created_by == "ada" and alpha.description == "churn models"


def test_the_environment_runs_atelier_and_its_own_ipykernel(bench: Bench) -> None:
    result = run_python(
        bench.alpha,
        "import sys, atelier, duckdb, pandas, ipykernel; "
        "print(sys.prefix); print(ipykernel.__file__)",
    )
    assert result.returncode == 0, result.stderr
    prefix, kernel = result.stdout.splitlines()
    assert Path(prefix) == bench.alpha.venv
    # ipykernel comes from the project's environment, not from Atelier's.
    assert Path(kernel).is_relative_to(bench.alpha.venv)


def test_project_code_in_src_is_importable(bench: Bench) -> None:
    (bench.alpha.path / "src" / "churn_helpers.py").write_text("ANSWER = 42\n")
    result = run_python(bench.alpha, "import churn_helpers; print(churn_helpers.ANSWER)")
    assert result.stdout.strip() == "42", result.stderr


def test_names_are_checked_and_unique(bench: Bench) -> None:
    ada = bench.people["ada"]
    for bad in ("Alpha", "my project", "-x", "x-", "../up", "a" * 65, ""):
        with pytest.raises(InvalidInput, match="project name"):
            bench.wb.projects.create(bad, ada)
    with pytest.raises(Conflict, match="project 'alpha' already exists"):
        bench.wb.projects.create("alpha", ada)
    squatter = bench.wb.workspace.root / "projects" / "gamma"
    squatter.mkdir()
    try:
        with pytest.raises(Conflict, match="gamma already exists but is not a project"):
            bench.wb.projects.create("gamma", ada)
        with pytest.raises(NotFound):
            bench.wb.projects.get("gamma")
    finally:
        squatter.rmdir()
    with pytest.raises(PermissionDenied, match="viewer"):
        bench.wb.projects.create("delta", bench.people["val"])


def test_a_failed_creation_leaves_nothing(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    # uv cannot reach an index nor use a cache: resolving ipykernel fails for real.
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_NO_CACHE", "1")
    with pytest.raises(
        UvFailed, match=r"could not create the environment of project 'epsilon'.*ipykernel"
    ):
        bench.wb.projects.create("epsilon", bench.people["ada"])
    with pytest.raises(NotFound, match="project 'epsilon' not found"):
        bench.wb.projects.get("epsilon")
    assert sorted(p.name for p in (bench.wb.workspace.root / "projects").iterdir()) == [
        "alpha",
        "beta",
    ]


def test_list_and_find_by_path(bench: Bench) -> None:
    projects = bench.wb.projects
    assert [p.name for p in projects.list()] == ["alpha", "beta"]
    assert [p.name for p in projects.list(bench.people["bob"], mine=True)] == ["beta"]
    assert projects.list(bench.people["cy"], mine=True) == []
    found = projects.project_for_path(bench.alpha.path / "notebooks")
    assert found is not None and found.name == "alpha"
    assert projects.project_for_path(bench.wb.workspace.root) is None
    assert projects.project_for_path(Path("/")) is None
    folder = bench.wb.workspace.root / "projects"
    assert project_name_for_path(folder / "beta" / "src" / "x.py", folder) == "beta"
    assert project_name_for_path(folder / ".beta.creating-1", folder) is None


def test_members_owners_and_admins(bench: Bench) -> None:
    projects, p = bench.wb.projects, bench.people
    with pytest.raises(PermissionDenied, match="only owners of project 'beta' and admins"):
        projects.add_member("beta", "cy", p["ada"])
    with pytest.raises(PermissionDenied, match=r"cy is not a member of project 'beta'.*bob"):
        projects.require_member("beta", p["cy"])
    projects.require_member("beta", p["root"])  # admins pass

    project = projects.add_member("beta", "cy", p["bob"])
    assert [(m.name, m.role) for m in project.members] == [("bob", "owner"), ("cy", "editor")]
    assert projects.require_member("beta", p["cy"]).name == "beta"
    with pytest.raises(InvalidInput, match="val is a viewer"):
        projects.add_member("beta", "val", p["bob"])
    with pytest.raises(NotFound, match="user 'nobody' not found"):
        projects.add_member("beta", "nobody", p["bob"])
    with pytest.raises(InvalidInput, match="member role 'boss'"):
        projects.add_member("beta", "cy", p["bob"], role="boss")
    with pytest.raises(InvalidInput, match="bob is the last owner"):
        projects.remove_member("beta", "bob", p["bob"])

    projects.add_member("beta", "cy", p["root"], role="owner")
    projects.remove_member("beta", "bob", p["cy"])
    assert [(m.name, m.role) for m in projects.get("beta").members] == [("cy", "owner")]
    projects.add_member("beta", "bob", p["cy"], role="owner")
    projects.remove_member("beta", "cy", p["cy"])  # anyone may leave
    with pytest.raises(NotFound, match="cy is not a member"):
        projects.remove_member("beta", "cy", p["bob"])
    actions = [e.action for e in bench.wb.audit.entries(limit=6)]
    assert actions.count("project.member.add") >= 2 and "project.member.remove" in actions


def test_readers_read_and_change_nothing(bench: Bench) -> None:
    projects, p, wb = bench.wb.projects, bench.people, bench.wb
    # ``member``, the earlier name, is an editor; a reader sees and changes nothing.
    projects.add_member("beta", "cy", p["bob"], role="member")
    assert projects.get("beta").role_of("cy") == "editor"
    projects.add_member("beta", "cy", p["bob"], role="reader")
    assert projects.get("beta").role_of("cy") == "reader"
    assert projects.require_member("beta", p["cy"], reading=True).name == "beta"
    refusals = (
        lambda: projects.require_member("beta", p["cy"]),
        lambda: projects.env.add("beta", ["six"], p["cy"]),
        lambda: projects.files.push("beta", io.BytesIO(b""), p["cy"]),
        lambda: projects.add_member("beta", "ada", p["cy"]),
    )
    for refused in refusals:
        with pytest.raises(PermissionDenied, match=r"cy is a reader of project 'beta'|only owners"):
            refused()
    # The pull of a reader is a read: it passes.
    assert len(projects.files.pull("beta", p["cy"])) > 0
    # No kernel for a reader's project: its notebooks open without running code.
    assert "beta" not in {k.name for k in wb.notebooks.kernel_projects(p["cy"])}
    projects.add_member("beta", "cy", p["bob"], role="editor")
    assert "beta" in {k.name for k in wb.notebooks.kernel_projects(p["cy"])}
    refused = wb.audit.entries(action="project.env.add")[0]
    assert (refused.actor, refused.success) == ("cy", False)


def test_projects_on_each_metadata_database(workbench: Workbench) -> None:
    owner = principal(workbench, "ada", "scientist")
    principal(workbench, "bob", "scientist")
    created = workbench.projects.create("shared-1", owner, "on " + workbench.db.engine.name)
    workbench.projects.add_member("shared-1", "bob", owner)
    listed = workbench.projects.list()
    assert [p.name for p in listed] == ["shared-1"]
    assert [m.name for m in listed[0].members] == ["ada", "bob"]
    assert created.path.is_dir()
    entry = workbench.audit.entries(action="project.create")[0]
    assert (entry.actor, entry.target) == ("ada", "shared-1")

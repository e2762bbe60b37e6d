"""Projects fixtures: one workspace (SQLite metadata) with two projects, made once per module
because every project runs a real `uv sync`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.auth import Principal
from atelier.services.projects import Project
from atelier.services.workbench import Workbench


@dataclass
class Bench:
    wb: Workbench
    people: dict[str, Principal]
    alpha: Project
    beta: Project


def principal(wb: Workbench, name: str, role: str) -> Principal:
    user = wb.users.ensure(name, role)
    return Principal(user.id, user.name, user.role, "local")


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """alpha (owner ada) and beta (owner bob); cy is a scientist in neither, val a viewer."""
    root, _ = init_workspace(tmp_path_factory.mktemp("projects") / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    people = {
        name: principal(wb, name, role)
        for name, role in (
            ("ada", "scientist"),
            ("bob", "scientist"),
            ("cy", "scientist"),
            ("val", "viewer"),
            ("root", "admin"),
        )
    }
    alpha = wb.projects.create("alpha", people["ada"], "churn models")
    beta = wb.projects.create("beta", people["bob"])
    yield Bench(wb, people, alpha, beta)
    wb.close()


def run_python(project: Project, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the project's interpreter, as a kernel or a job would."""
    return subprocess.run(
        [str(project.python), "-c", code], capture_output=True, text=True, timeout=120
    )

"""Kernelspecs: one Jupyter kernel per project environment ("Atelier · NAME").

They are written to ``<data dir>/kernels/atelier-<name>/kernel.json`` of a user's Jupyter
server, a folder on its ``JUPYTER_PATH``; Jupyter reads kernelspecs afresh on each request,
so rewriting the folder is all it takes for a new project to appear in the launcher.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

PREFIX = "atelier-"


class KernelProject(Protocol):
    """What a kernelspec needs of a project."""

    @property
    def name(self) -> str: ...

    @property
    def python(self) -> Path: ...


def kernel_name(project: str) -> str:
    return f"{PREFIX}{project}"


def display_name(project: str) -> str:
    return f"Atelier · {project}"


def kernelspec(project: KernelProject) -> dict[str, Any]:
    return {
        "argv": [str(project.python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name(project.name),
        "language": "python",
        "interrupt_mode": "signal",
        # The project's experiment is where the notebook's runs go unless it picks another
        # (mlflow.set_experiment wins over the variable).
        "env": {"ATELIER_PROJECT": project.name, "MLFLOW_EXPERIMENT_NAME": project.name},
        "metadata": {"debugger": True, "atelier_project": project.name},
    }


def readonly_kernelspec(project: str) -> dict[str, Any]:
    """The kernel of a project the user may not run: it names the project, so that its
    notebooks open with a kernel JupyterLab knows instead of "No Kernel", and starting it is
    refused by the gateway with the reason. Should it start anyway, it runs no project code:
    it exits with that reason."""
    reason = (
        f"You may not run the notebooks of project {project}: only its owners and editors do. "
        "Ask one of its owners (see the project's page) to make you an editor."
    )
    return {
        "argv": [sys.executable, "-c", f"import sys; sys.exit({reason!r})"],
        "display_name": f"{display_name(project)} (read only)",
        "language": "python",
        "metadata": {"atelier_project": project, "atelier_read_only": True},
    }


def write_kernelspecs(
    kernels_dir: Path, projects: Iterable[KernelProject], readonly: Iterable[str] = ()
) -> list[str]:
    """Make ``kernels_dir`` hold exactly one kernelspec per project that has an environment,
    and a read-only one per project of ``readonly`` (names) that is not among them; returns
    the kernel names. Files are rewritten only when they change."""
    kernels_dir.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, dict[str, Any]] = {
        kernel_name(p.name): kernelspec(p) for p in projects if p.python.exists()
    }
    for name in readonly:
        wanted.setdefault(kernel_name(name), readonly_kernelspec(name))
    for stale in kernels_dir.glob(f"{PREFIX}*"):
        if stale.name not in wanted and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    for name, spec in wanted.items():
        target = kernels_dir / name / "kernel.json"
        text = json.dumps(spec, indent=1, ensure_ascii=False) + "\n"
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(exist_ok=True)
            staged = target.with_suffix(".tmp")
            staged.write_text(text, encoding="utf-8")
            staged.replace(target)  # Jupyter may read it at any moment: never half-written
    return sorted(wanted)

"""Kernelspecs follow the projects: one per project environment, stale ones removed."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from atelier.services.notebooks import kernel_name, starter_notebook, write_kernelspecs


@dataclass(frozen=True)
class FakeProject:
    name: str
    python: Path


def test_one_kernelspec_per_project(tmp_path: Path) -> None:
    python = tmp_path / "venv-python"
    python.touch()
    kernels = tmp_path / "kernels"
    (kernels / "atelier-gone").mkdir(parents=True)
    (kernels / "someone-else").mkdir()
    names = write_kernelspecs(
        kernels,
        [FakeProject("churn", python), FakeProject("broken", tmp_path / "missing-python")],
    )
    assert names == ["atelier-churn"]
    assert sorted(p.name for p in kernels.iterdir()) == ["atelier-churn", "someone-else"]
    spec = json.loads((kernels / "atelier-churn" / "kernel.json").read_text())
    assert spec["argv"] == [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["display_name"] == "Atelier · churn"
    assert spec["env"] == {"ATELIER_PROJECT": "churn", "MLFLOW_EXPERIMENT_NAME": "churn"}

    before = (kernels / "atelier-churn" / "kernel.json").stat().st_mtime_ns
    write_kernelspecs(kernels, [FakeProject("churn", python)])
    assert (kernels / "atelier-churn" / "kernel.json").stat().st_mtime_ns == before


def test_projects_one_may_not_run_get_a_kernel_that_says_so(tmp_path: Path) -> None:
    python = tmp_path / "venv-python"
    python.touch()
    kernels = tmp_path / "kernels"
    names = write_kernelspecs(kernels, [FakeProject("churn", python)], readonly=["vault", "churn"])
    assert names == ["atelier-churn", "atelier-vault"]
    churn = json.loads((kernels / "atelier-churn" / "kernel.json").read_text())
    assert churn["argv"][0] == str(python)  # one may run it: the read-only one does not win
    vault = json.loads((kernels / "atelier-vault" / "kernel.json").read_text())
    assert vault["display_name"] == "Atelier · vault (read only)"
    # Started anyway, it runs no project code: it exits with the reason.
    ran = subprocess.run(vault["argv"], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 1 and "may not run the notebooks of project vault" in ran.stderr
    write_kernelspecs(kernels, [FakeProject("churn", python)])
    assert not (kernels / "atelier-vault").exists()


def test_starter_notebook_opens_in_the_project_kernel() -> None:
    notebook = json.loads(starter_notebook("churn"))
    assert notebook["metadata"]["kernelspec"]["name"] == kernel_name("churn")
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert any("%load_ext atelier" in source for source in sources)
    assert any("RANGE BETWEEN INTERVAL 29 DAYS PRECEDING" in source for source in sources)

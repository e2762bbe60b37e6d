"""Kernelspecs follow the projects: one per project environment, stale ones removed."""

from __future__ import annotations

import json
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


def test_starter_notebook_opens_in_the_project_kernel() -> None:
    notebook = json.loads(starter_notebook("churn"))
    assert notebook["metadata"]["kernelspec"]["name"] == kernel_name("churn")
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    assert any("%load_ext atelier" in source for source in sources)
    assert any("RANGE BETWEEN INTERVAL 29 DAYS PRECEDING" in source for source in sources)

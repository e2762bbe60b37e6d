"""The starter notebook of a new project, bound to that project's kernel."""

from __future__ import annotations

import json
from pathlib import Path

from atelier.services.notebooks.kernelspecs import display_name, kernel_name

#: Shipped beside the projects service, which copies it into every new project.
STARTER = Path(__file__).parent.parent / "projects" / "start.ipynb"


def starter_notebook(project: str) -> str:
    """``start.ipynb`` with its kernelspec set to ``project``'s kernel, so JupyterLab opens it
    in the right environment without asking."""
    notebook = json.loads(STARTER.read_text(encoding="utf-8"))
    notebook["metadata"]["kernelspec"] = {
        "name": kernel_name(project),
        "display_name": display_name(project),
        "language": "python",
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"

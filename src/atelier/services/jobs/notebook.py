"""Run a notebook as a job: ``python -m atelier.services.jobs.notebook IN OUT --python PY``.

Parameters are injected the way papermill does it: a new cell tagged ``injected-parameters``
right after the cell tagged ``parameters`` (or first, when there is none), so the notebook's
defaults stay visible and the values used are recorded. The notebook runs with nbclient in a
kernel started from ``--python`` (the project's environment); each cell's output is printed
as the cell completes, and the executed notebook is written to OUT, also when a cell fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

KERNEL = "atelier-job"


def inject_parameters(notebook: Any, params: dict[str, Any]) -> None:
    """Add the injected-parameters cell to ``notebook`` (an nbformat notebook)."""
    if not params:
        return
    import nbformat

    lines = ["# Parameters", *(f"{name} = {value!r}" for name, value in params.items())]
    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n")  # type: ignore[no-untyped-call]
    cell.metadata["tags"] = ["injected-parameters"]
    cells = notebook.cells
    # A re-run notebook already has an injected cell: replace it rather than stack another.
    cells[:] = [c for c in cells if "injected-parameters" not in c.metadata.get("tags", [])]
    where = next(
        (i + 1 for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])), 0
    )
    cells.insert(where, cell)


def _text_of(output: Any) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", [])) + "\n"
    data = output.get("data", {})
    if "text/plain" in data:
        return str(data["text/plain"]) + "\n"
    return ""


def run(source: Path, output: Path, python: str, params: dict[str, Any]) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(source, as_version=4)  # type: ignore[no-untyped-call]
    inject_parameters(notebook, params)
    total = sum(1 for cell in notebook.cells if cell.cell_type == "code")
    seen = {"n": 0}

    def on_cell_executed(cell: Any, cell_index: int, **_: Any) -> None:
        if cell.cell_type != "code":
            return
        seen["n"] += 1
        sys.stdout.write(f"[cell {seen['n']}/{total}]\n")
        for item in cell.get("outputs", []):
            sys.stdout.write(_text_of(item))
        sys.stdout.flush()

    with tempfile.TemporaryDirectory(prefix="atelier-kernel-") as folder:
        spec = Path(folder) / "kernels" / KERNEL
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "job kernel",
                    "language": "python",
                }
            )
        )
        # The kernel is found by name on JUPYTER_PATH, searched before the installed ones.
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (folder, os.environ.get("JUPYTER_PATH", "")) if p
        )
        client = NotebookClient(
            notebook,
            kernel_name=KERNEL,
            timeout=None,
            resources={"metadata": {"path": str(Path.cwd())}},
            on_cell_executed=on_cell_executed,
        )
        code = 0
        try:
            client.execute()
        except CellExecutionError as exc:
            sys.stdout.write(f"\n{exc}\n")
            code = 1
        finally:
            output.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, output)  # type: ignore[no-untyped-call]
            sys.stdout.write(f"executed notebook: {output}\n")
            sys.stdout.flush()
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="atelier-notebook-job")
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--params", default="{}")
    args = parser.parse_args(argv)
    return run(args.source, args.output, args.python, json.loads(args.params))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

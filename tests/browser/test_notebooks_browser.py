"""JupyterLab through Atelier in a real browser: log in, open a notebook in a project kernel,
run a cell that queries the workspace, see the result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from atelier.services.notebooks import display_name, kernel_name
from atelier.services.workbench import Workbench
from tests.conftest import RunningServer, start_server
from tests.services.notebooks.conftest import PROJECT, demo_workbench

pytestmark = pytest.mark.browser

QUERY = """import atelier
ws = atelier.connect()
ws.sql("SELECT count(*) AS customers FROM bank.customers")"""


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[tuple[RunningServer, Workbench]]:
    workbench, _ = demo_workbench(tmp_path)
    server = start_server(workbench.workspace)
    yield server, workbench
    server.stop()
    workbench.close()


def test_run_a_cell_in_jupyterlab_through_the_portal(lab_server, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = lab_server
    notebook = new_notebook(cells=[new_code_cell(QUERY)])
    notebook.metadata["kernelspec"] = {
        "name": kernel_name(PROJECT),
        "display_name": display_name(PROJECT),
        "language": "python",
    }
    folder = workbench.projects.get(PROJECT).notebooks
    nbformat.write(notebook, folder / "probe.ipynb")

    page.goto(f"{server.url}/notebooks/lab")
    assert "/login" in page.url  # no session yet
    assert server.login_link is not None
    page.goto(server.login_link)
    page.goto(f"{server.url}/notebooks/lab/tree/{PROJECT}/notebooks/probe.ipynb")
    # The first visit starts the user's JupyterLab: a page that reloads itself until it is up.
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=240_000)
    # The kernel runs and its WebSocket is connected (through the gateway) once it is idle.
    page.wait_for_selector(f"text={display_name(PROJECT)} | Idle", timeout=180_000)

    page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output").first
    output.wait_for(timeout=180_000)
    page.wait_for_function(
        "() => document.querySelector('.jp-OutputArea-output')?.innerText.includes('500')",
        timeout=60_000,
    )
    text = output.inner_text()
    assert "customers" in text
    assert "500" in text

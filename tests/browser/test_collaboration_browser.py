"""Two members of a project edit one notebook at once in its shared JupyterLab, each in their
own browser: each sees the other's change, and the other among the document's people under
their Atelier name; one commits the result from JupyterLab's git panel, as herself."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.browser.conftest import ARGS, CHROMIUM
from tests.conftest import RunningServer, new_workspace, start_server

PASSWORD = "correct horse battery"


@pytest.fixture
def team(tmp_path: Path) -> Iterator[tuple[RunningServer, Workbench]]:
    workspace = Workspace.open(new_workspace(tmp_path / "ws"), environ={})
    workbench = Workbench(workspace)
    for name in ("ada", "bob"):
        workbench.users.create(name, "scientist", PASSWORD)
    ada = workbench.acting(workbench.tokens.create("ada", "t", 1)[1])
    workbench.projects.create("team", ada)
    workbench.projects.add_member("team", "bob", ada, role="editor")
    server = start_server(workspace)
    yield server, workbench
    server.stop()
    workbench.close()


def log_in(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/projects/team")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/projects/team")


def first_cell(page: Any) -> Any:
    return page.locator(".jp-NotebookPanel .jp-CodeCell .cm-content").first


def test_two_members_edit_one_notebook_and_see_each_other(team: Any) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium as root")
    from playwright.sync_api import sync_playwright

    server, workbench = team
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = {}
        for name in ("ada", "bob"):
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.set_default_timeout(120_000)  # JupyterLab starts on the first request
            log_in(page, server.url, name)
            page.get_by_test_id("open-shared").click()
            page.wait_for_url("**/collab/team/lab/tree/notebooks/start.ipynb")
            first_cell(page).wait_for()
            pages[name] = page
        ada, bob = pages["ada"], pages["bob"]
        first_cell(ada).click()
        ada.keyboard.press("Control+Home")
        ada.keyboard.type("# edited by ada, live\n")
        bob.wait_for_function(
            "() => document.querySelector('.jp-NotebookPanel .jp-CodeCell .cm-content')"
            ".textContent.includes('edited by ada, live')"
        )
        # bob sees ada among the people in the document, by her Atelier name.
        bob.locator(".jp-Collaborator", has_text="ada").first.wait_for(state="attached")
        assert "notebooks/start.ipynb" in bob.locator(".jp-Collaborator").first.inner_text()
        first_cell(bob).click()
        bob.keyboard.press("Control+End")
        bob.keyboard.type("\n# and bob")
        ada.wait_for_function(
            "() => document.querySelector('.jp-NotebookPanel .jp-CodeCell .cm-content')"
            ".textContent.includes('and bob')"
        )
        # The collaboration server saves the shared document itself. A save from the page as
        # well can race it, and JupyterLab then asks whether to overwrite the file on disk.
        folder = workbench.projects.get("team").path
        notebook = folder / "notebooks" / "start.ipynb"
        deadline = time.monotonic() + 60
        while not {"edited by ada, live", "and bob"} <= words_in(notebook):
            assert time.monotonic() < deadline, notebook.read_text()
            time.sleep(0.5)
        # ada commits the notebook from JupyterLab's git panel: the commit is hers.
        ada.locator("li[data-id='jp-git-sessions']").click()
        # The generated state of collaboration stays out of the project: only the notebook.
        ada.get_by_text("start.ipynb", exact=True).last.wait_for()
        assert "Untracked" not in ada.locator("#jp-git-sessions").inner_text()
        message = ada.locator("textarea[placeholder^='Commit message']")
        message.fill("Edited together")
        ada.get_by_text("Changed", exact=True).hover()  # its buttons show on hover
        ada.locator("button[title='Stage all changes']").click()
        # The Commit button is enabled once the notebook is staged.
        ada.wait_for_function(
            "() => !document.querySelector(\"#jp-git-sessions button[title^='Disabled']\")"
        )
        message.press("Control+Enter")
        deadline = time.monotonic() + 60
        while git_log(folder) != "ada <ada@atelier.localhost>|Edited together":
            assert time.monotonic() < deadline, git_log(folder)
            time.sleep(0.5)
        shown = subprocess.run(
            ["git", "show", "HEAD:notebooks/start.ipynb"],
            cwd=folder,
            capture_output=True,
            text=True,
        ).stdout
        assert "edited by ada, live" in shown and "and bob" in shown
        browser.close()


def git_log(folder: Path) -> str:
    done = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>|%s"], cwd=folder, capture_output=True, text=True
    )
    return done.stdout.strip()


def words_in(notebook: Path) -> set[str]:
    """Which of the two edits the notebook on disk holds."""
    text = notebook.read_text()
    return {edit for edit in ("edited by ada, live", "and bob") if edit in text}

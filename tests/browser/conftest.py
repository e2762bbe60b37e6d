"""Headless Chromium (Debian's, never a downloaded one) driven by Playwright."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.conftest import RunningServer, start_server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[tuple[RunningServer, Workbench]]:
    root, _ = init_workspace(tmp_path / "ws")
    workspace = Workspace.open(root, environ={})
    workbench = Workbench(workspace)
    server = start_server(workspace)
    yield server, workbench
    server.stop()
    workbench.close()


@pytest.fixture
def page() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()

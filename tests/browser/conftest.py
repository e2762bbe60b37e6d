"""Headless Chromium (Debian's, never a downloaded one) driven by Playwright."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.conftest import RunningServer, new_workspace, start_server

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
    root = new_workspace(tmp_path / "ws")
    workspace = Workspace.open(root, environ={})
    workbench = Workbench(workspace)
    server = start_server(workspace)
    yield server, workbench
    server.stop()
    workbench.close()


@pytest.fixture
def page() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} is missing: `make test` installs Debian's chromium as root"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(f"{missing}; or `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()

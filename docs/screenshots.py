"""Screenshots of the portal's main pages for the docs (``make screenshots``).

The images in ``docs/images/`` are made by this script, never by hand, so they show the
portal as it is: it makes a throwaway workspace with the demo bank (small scale), its churn
model and app, a scientist, a viewer, an admin, a project and a finished job; starts the real
server (``atelier up`` on a free port); logs in with Playwright in Debian's Chromium (never a
downloaded browser); and saves each page at 1400x900. Then it stops the server and removes
the workspace.

Run it from the repository root: ``.venv/bin/python docs/screenshots.py [--keep]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

IMAGES = Path(__file__).resolve().parent / "images"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PASSWORD = "correct horse battery"
#: Small enough to load in seconds, big enough for the charts and the model to mean something.
SCALE = 0.1
#: The job of the jobs page: logs a metric over a few steps to its MLflow run.
JOB = """\
import mlflow
with mlflow.start_run():
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
print("scored the customers", flush=True)
"""
#: Feature views of the project, for the features page.
FEATURES = """\
project: churn
entities:
  - {name: customer, keys: [customer_id], description: a customer of the bank}
views:
  - name: spend
    entity: customer
    source: bank.transactions
    timestamp: ts
    ttl: 90d
    description: What a customer spends and how often
    tags: [finance]
    features: [amount, {name: outgoing, sql: "amount < 0"}]
    aggregations:
      - {column: amount, functions: [count, sum, avg], windows: [30d, 90d]}
  - name: tickets
    entity: customer
    source: bank.support_tickets
    timestamp: opened_at
    description: Support tickets a customer opened
    features: [category]
    aggregations:
      - {column: "*", functions: [count], windows: [90d], prefix: tickets}
services:
  - {name: churn_model, features: ["spend:amount_avg_90d", "tickets:tickets_count_90d"]}
"""
BRANCHES = b"""branch_id,city,opened,staff,monthly_rent
1,London,2009-04-01,42,18500.00
2,Manchester,2012-09-15,17,7200.50
3,Leeds,2015-01-12,11,5100.00
4,Bristol,2018-06-30,9,4800.75
"""
SQL = """SELECT segment, count(*) AS customers
FROM bank.customers
GROUP BY segment
ORDER BY customers DESC"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare(root: Path) -> dict[str, Any]:
    """The demo workspace at ``root``: accounts, the demo bank, model and app, a project."""
    from atelier.config import Workspace, init_workspace
    from atelier.server.host import load_demo
    from atelier.services.auth import Principal
    from atelier.services.features.loader import load
    from atelier.services.workbench import Workbench

    init_workspace(root)
    config = root / "atelier.toml"
    config.write_text(config.read_text().replace('mode = "single"', 'mode = "team"', 1))
    workbench = Workbench(Workspace.open(root, environ={}))
    try:
        users = {}
        for name, role in (("ada", "admin"), ("sam", "scientist"), ("vic", "viewer")):
            user = workbench.users.create(name, role, PASSWORD)
            users[name] = Principal(user.id, name, role, "token")
        for line in load_demo(workbench, users["sam"], SCALE, lambda step: print(step)):
            print(line)
        workbench.projects.create("churn", users["sam"], "Who leaves the bank, and why.")
        workbench.projects.add_member("churn", "ada", users["sam"], role="reader")
        definitions = root / "features.yaml"
        definitions.write_text(FEATURES)
        workbench.features.apply(load(definitions), project="churn", principal=users["sam"])
        token = workbench.tokens.create("sam", "screenshots", 1)[1]
        return {"token": token}
    finally:
        workbench.close()


@contextmanager
def server(root: Path) -> Iterator[str]:
    """``atelier up`` on a free port; its URL once /health answers; stopped afterwards."""
    port = free_port()
    env = {**os.environ, "ATELIER_WORKSPACE": str(root)}
    env["ATELIER_SERVER_APPS_PORT"] = str(free_port())
    for name in ("ATELIER_URL", "ATELIER_TOKEN"):
        env.pop(name, None)
    log = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "up", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"atelier up exited: {(root / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("atelier up did not answer /health in 120 s")
            time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run_job(url: str, root: Path, token: str) -> int:
    """Submit :data:`JOB` and wait until it ended; its id."""
    script = root / "score.py"
    script.write_text(JOB)
    headers = {"Authorization": f"Bearer {token}"}
    made = httpx.post(
        f"{url}/api/v1/jobs",
        json={"target": [sys.executable, str(script)], "project": "churn"},
        headers=headers,
        timeout=300,
    )
    made.raise_for_status()
    job_id: int = made.json()["id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = httpx.get(f"{url}/api/v1/jobs/{job_id}", headers=headers, timeout=30).json()
        if state.get("state") not in ("queued", "running"):
            break
        time.sleep(1)
    return job_id


def log_in(page: Any, url: str, name: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def shoot(page: Any, url: str, path: str, name: str) -> None:
    response = page.goto(f"{url}{path}")
    if response is None or response.status >= 400:
        raise RuntimeError(f"{path} answered {response.status if response else 'nothing'}")
    save(page, name)


def save(page: Any, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(IMAGES / f"{name}.png"), full_page=False)
    print(f"docs/images/{name}.png")


def take(url: str, job_id: int) -> None:
    from playwright.sync_api import sync_playwright

    IMAGES.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)  # MLflow and the model load on first use
        shoot(page, url, "/login", "login")
        log_in(page, url, "sam")
        # First, so that the home page lists the table among the recent ones.
        page.goto(f"{url}/data/sql")
        code = page.locator("[data-testid=sql-code] .cm-content")
        code.click()
        page.keyboard.insert_text(SQL)
        page.keyboard.press("Control+Enter")
        page.get_by_test_id("sql-row-count").wait_for()
        page.keyboard.press("Escape")  # no completion list over the picture
        save(page, "sql")
        for path, name in (
            ("/", "home"),
            ("/data", "data"),
            ("/data/tables/bank.customers", "table"),
            ("/features", "features"),
            ("/experiments", "experiments"),
            ("/models/churn", "model-card"),
            ("/jobs", "jobs"),
            (f"/jobs/{job_id}", "job"),
            ("/apps", "apps"),
            ("/projects", "projects"),
            ("/projects/churn", "project"),
        ):
            shoot(page, url, path, name)
        # The upload page with a file previewed: its columns, their types, where it goes.
        page.goto(f"{url}/data/upload")
        page.set_input_files(
            "#file-input",
            files={"name": "branches.csv", "mimeType": "text/csv", "buffer": BRANCHES},
        )
        page.get_by_test_id("preview").wait_for(state="visible")
        save(page, "upload")
        log_in(page, url, "vic")
        page.goto(f"{url}/apps/churn")
        page.click("text=Predict")
        page.get_by_test_id("prediction-value").wait_for()
        save(page, "app")
        log_in(page, url, "ada")
        shoot(page, url, "/admin/users", "admin-users")
        context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the workspace (path printed)")
    options = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    folder = Path(tempfile.mkdtemp(prefix="atelier-screenshots-"))
    os.environ["XDG_CONFIG_HOME"] = str(folder / "config")  # no stored login is used
    root = folder / "ws"
    try:
        made = prepare(root)
        with server(root) as url:
            job_id = run_job(url, root, made["token"])
            take(url, job_id)
    finally:
        if options.keep:
            print(f"workspace kept at {root}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

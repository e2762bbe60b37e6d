"""Two ``atelier up`` processes on one workspace: one folder, PostgreSQL metadata and a
PostgreSQL DuckLake catalog. Logins and tokens hold on either server; concurrent appends
through both land exactly; a server killed mid-job loses nothing and runs nothing twice.

The servers run on this machine under two node names (``ATELIER_NODE_NAME``), so that each
sees the other's jobs as another machine's and coordinates through leases only, as servers
on two machines do. Leases last 4 s here (``server.lease_seconds``) to keep the test short.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass

import httpx
import pyarrow as pa
import pytest
from websockets.exceptions import InvalidStatus

import atelier
from atelier.backends.metadata import Database
from atelier.config import Workspace
from atelier.server.gateway.proxy import FORWARDED_HEADER
from atelier.services.jobs.records import JobRecords
from atelier.services.leases import Leases
from atelier.services.notebooks import kernel_name
from atelier.services.notebooks.servers import lease_name
from atelier.services.notebooks.shared import shared_lease_name
from atelier.services.workbench import Workbench
from tests.conftest import (
    PASSWORD,
    TEMPLATES,
    RunningServer,
    fresh_postgres_database,
    new_workspace,
    start_server,
)
from tests.services.notebooks.test_notebooks import run_code

LEASE_SECONDS = 4
CLIENTS = 8
APPENDS = 2
ROWS = 10

#: A job that says when it starts and ends, in files of the workspace; it ends once the
#: file ``marks/TAG.go`` exists.
SLOW = """
import sys, time
from pathlib import Path
tag = sys.argv[1]
marks = Path("marks")
with open(marks / tag, "a") as out:
    out.write("start\\n")
while not (marks / (tag + ".go")).exists():
    time.sleep(0.05)
with open(marks / tag, "a") as out:
    out.write("end\\n")
"""


@dataclass
class Team:
    workspace: Workspace
    metadata_url: str
    token: str
    servers: dict[str, RunningServer]

    def start(self, node: str) -> RunningServer:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("ATELIER_NODE_NAME", node)
            running = start_server(self.workspace)
        self.servers[node] = running
        return running

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    with ExitStack() as stack:
        metadata = stack.enter_context(
            fresh_postgres_database(template=TEMPLATES.postgres_template())
        )
        catalog = stack.enter_context(fresh_postgres_database(prefix="atelier_lake"))
        root = new_workspace(tmp_path_factory.mktemp("team") / "ws", migrated=False)
        config = root / "atelier.toml"
        text = config.read_text()
        text = text.replace('mode = "single"', f'mode = "team"\nlease_seconds = {LEASE_SECONDS}')
        text = text.replace('\nurl = ""\n', f'\nurl = "{metadata}"\n', 1)
        text = text.replace('catalog_url = ""', f'catalog_url = "{catalog}"', 1)
        config.write_text(text)
        (root / "slow.py").write_text(SLOW)
        (root / "marks").mkdir()
        workspace = Workspace.open(root, environ={})
        workbench = Workbench(workspace)
        try:
            workbench.users.create("ada", "admin", PASSWORD)
            token = workbench.tokens.create("ada", "test", 1)[1]
        finally:
            workbench.close()
        found = Team(workspace, metadata, token, {})
        try:
            found.start("node-a")
            found.start("node-b")
            yield found
        finally:
            for running in found.servers.values():
                running.stop()


def test_a_login_made_on_one_server_holds_on_the_other(team: Team) -> None:
    a, b = team.servers["node-a"].url, team.servers["node-b"].url
    with httpx.Client(base_url=a) as on_a:
        form = on_a.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        cookies = dict(on_a.cookies)
    # The form of A, posted to B: the signed session cookie B sets opens A's pages.
    with httpx.Client(base_url=b, cookies=cookies) as on_b:
        login = on_b.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf_token": csrf.group(1), "next": "/"},
        )
        assert login.status_code == 303, login.text
        session = dict(on_b.cookies)
    with httpx.Client(base_url=a, cookies=session) as on_a:
        home = on_a.get("/")
        assert home.status_code == 200 and "ada" in home.text
    with httpx.Client(base_url=a) as anonymous:
        assert anonymous.get("/").status_code in (303, 307, 401)
    for url in (a, b):
        assert httpx.get(f"{url}/api/v1/jobs", headers=team.headers()).status_code == 200
        refused = httpx.get(f"{url}/api/v1/jobs", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401


def test_concurrent_appends_over_both_servers_are_exact(team: Team) -> None:
    urls = [team.servers["node-a"].url, team.servers["node-b"].url]
    with atelier.connect(urls[0], team.token) as first:
        first.upload(pa.table({"client": [-1], "n": [0]}), "appends", mode="create")
    failures: list[BaseException] = []

    def client(number: int) -> None:
        clients = [atelier.connect(url, team.token) for url in urls]
        try:
            for batch in range(APPENDS):
                rows = pa.table(
                    {
                        "client": [number] * ROWS,
                        "n": [batch * ROWS + i for i in range(ROWS)],
                    }
                )
                # Round robin: each append reaches the other server than the last.
                clients[(number + batch) % 2].upload(rows, "appends", mode="append")
        except BaseException as error:
            failures.append(error)
        finally:
            for opened in clients:
                opened.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    expected = 1 + CLIENTS * APPENDS * ROWS
    for url in urls:
        with atelier.connect(url, team.token) as ws:
            counted = ws.sql(
                "SELECT count(*) AS rows, count(DISTINCT (client, n)) AS different FROM appends"
            )
        assert (int(counted.rows[0]), int(counted.different[0])) == (expected, expected)


def test_each_server_announces_itself_with_a_lease(team: Team) -> None:
    assert team.workspace.settings.server.lease_seconds == LEASE_SECONDS
    db = Database(team.metadata_url)
    try:
        live = Leases(db).live("server:")
    finally:
        db.dispose()
    nodes = sorted(lease.holder.split(":")[0] for lease in live)
    assert nodes == ["node-a", "node-b"]
    for lease in live:
        assert lease.address.startswith("http://127.0.0.1:")


def _session(url: str) -> dict[str, str]:
    """A portal session of ada's, made on the server at ``url``."""
    with httpx.Client(base_url=url) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        login = client.post(
            "/login",
            data={"name": "ada", "password": PASSWORD, "csrf_token": csrf.group(1), "next": "/"},
        )
        assert login.status_code == 303, login.text
        return dict(client.cookies)


def test_a_jupyterlab_runs_on_one_server_and_answers_through_both(team: Team) -> None:
    a, b = team.servers["node-a"].url, team.servers["node-b"].url
    workbench = Workbench(team.workspace)
    try:
        workbench.projects.create("shared", workbench.acting(team.token))
    finally:
        workbench.close()
    jupyter = {"Authorization": f"token {team.token}"}
    specs = httpx.get(f"{a}/notebooks/api/kernelspecs", headers=jupyter, timeout=120)
    assert specs.status_code == 200, specs.text
    db = Database(team.metadata_url)
    try:
        started = Leases(db).get(lease_name("ada"))
        assert started is not None and started.address == a
        # Through B: passed on to A's JupyterLab (B starts none), a kernel started and run
        # over B's WebSocket with a token, and with a session whose page is B's.
        kernel = httpx.post(
            f"{b}/notebooks/api/kernels",
            headers=jupyter,
            json={"name": kernel_name("shared")},
            timeout=120,
        )
        assert kernel.status_code == 201, kernel.text
        kernel_id = kernel.json()["id"]
        listed = httpx.get(f"{a}/notebooks/api/kernels", headers=jupyter, timeout=30).json()
        assert kernel_id in [found["id"] for found in listed]
        ws_b = "ws" + b.removeprefix("http")
        query = f"?session_id={uuid.uuid4().hex}&token={team.token}"
        url = f"{ws_b}/notebooks/api/kernels/{kernel_id}/channels"
        assert asyncio.run(run_code(url + query, "print(6 * 7)")).strip() == "42"
        cookie = "; ".join(f"{name}={value}" for name, value in _session(b).items())
        same_site = {"Cookie": cookie, "Origin": b}
        assert asyncio.run(run_code(url, "print(6 * 8)", same_site)).strip() == "48"
        # Attacks: another site's page, with the session: refused (by B, before passing on).
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(run_code(url, "print(1)", {"Cookie": cookie, "Origin": "http://evil"}))
        assert refused.value.response.status_code == 403
        # No credentials: refused, whatever the request says it is.
        for headers in ({}, {FORWARDED_HEADER: "node-a:1:x"}):
            answer = httpx.get(f"{b}/notebooks/api/kernels", headers=headers, timeout=30)
            assert answer.status_code in (401, 303, 307), answer.text
        # A request marked as passed on already is not passed on again: it is answered 409,
        # naming the server that runs the JupyterLab.
        again = httpx.get(
            f"{b}/notebooks/api/kernels", headers={**jupyter, FORWARDED_HEADER: "x"}, timeout=30
        )
        assert again.status_code == 409 and a in again.json()["detail"]
        still = Leases(db).get(lease_name("ada"))
        assert still is not None and still.holder == started.holder
        httpx.delete(f"{a}/notebooks/api/kernels/{kernel_id}", headers=jupyter, timeout=30)
        # A project's shared JupyterLab likewise: started on B, its files listed through A.
        contents = "/collab/shared/api/contents"
        for url in (b, a):
            listed = httpx.get(f"{url}{contents}", headers=team.headers(), timeout=120)
            assert listed.status_code == 200, listed.text
            assert "notebooks" in [item["name"] for item in listed.json()["content"]]
        shared = Leases(db).get(shared_lease_name("shared"))
        assert shared is not None and shared.address == b
    finally:
        db.dispose()


def _submit(url: str, token: str, tag: str) -> int:
    created = httpx.post(
        f"{url}/api/v1/jobs",
        json={"target": ["slow.py", tag]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=180,  # the first job of a server starts its MLflow server (a run is linked)
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _job(url: str, token: str, job_id: int) -> dict[str, object]:
    found = httpx.get(
        f"{url}/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert found.status_code == 200, found.text
    answer: dict[str, object] = found.json()
    return answer


def _wait(condition: Callable[[], bool], seconds: float, what: str | Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what() if callable(what) else what}")


def test_a_server_killed_mid_job_loses_nothing_and_runs_nothing_twice(team: Team) -> None:
    c = team.start("node-c")
    b = team.servers["node-b"].url
    marks = team.workspace.root / "marks"
    # Submitted to C, whose request starts them: C supervises both (B starts queued jobs
    # only when asked, and nobody asks B until they run).
    survives = _submit(c.url, team.token, "survives")
    orphaned = _submit(c.url, team.token, "orphaned")
    db = Database(team.metadata_url)
    try:
        records = JobRecords(db)
        for job in (survives, orphaned):
            _wait(
                lambda job=job: records.get(job).external_id is not None,
                120,
                lambda job=job: f"job {job} started ({_describe(records, job)})",
            )
            assert records.get(job).host == "node-c"
        _wait(lambda: (marks / "orphaned").exists() and (marks / "survives").exists(), 120, "runs")
        lost = records.get(orphaned)
        # The server dies at once. The supervisor of one job goes with it (as on a machine
        # that stops); the other job's supervisor, its own process, carries on.
        c.process.send_signal(signal.SIGKILL)
        c.process.wait(timeout=10)
        assert lost.supervisor_pid is not None and lost.external_id is not None
        for pid in (lost.supervisor_pid, int(lost.external_id)):
            _kill(pid)
        # B learns of it within a few leases, without anyone asking C.
        _wait(
            lambda: _job(b, team.token, orphaned)["state"] == "failed",
            LEASE_SECONDS * 6,
            "the orphaned job reported",
        )
        reason = str(_job(b, team.token, orphaned)["reason"])
        assert "node-c" in reason and "never runs twice" in reason
        (marks / "survives.go").touch()
        _wait(
            lambda: _job(b, team.token, survives)["state"] == "succeeded",
            30,
            "the surviving job recorded by its supervisor",
        )
        time.sleep(LEASE_SECONDS * 2)  # time enough for a wrong restart to show
        assert (marks / "survives").read_text() == "start\nend\n"
        assert (marks / "orphaned").read_text() == "start\n"
        assert _job(b, team.token, orphaned)["state"] == "failed"
        assert records.get(survives).finished_at is not None
    finally:
        db.dispose()


def _describe(records: JobRecords, job: int) -> str:
    found = records.get(job)
    return f"{found.state} on {found.host}: {found.reason}"


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)

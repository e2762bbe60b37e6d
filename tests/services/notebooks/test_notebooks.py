"""JupyterLab behind Atelier: refused without a session, a project kernel that knows the
workbench, an IDE's Jupyter client with a personal token (and the attacks on that), the
starter notebook run headless, and nothing left running afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from atelier.services.auth import scopes as token_scopes
from atelier.services.notebooks import kernel_name, starter_notebook, write_kernelspecs
from tests.conftest import free_port
from tests.services.notebooks.conftest import PROJECT, Lab

PATHS = ["/notebooks", "/notebooks/", "/notebooks/lab", "/notebooks/api/kernels", "/notebooks/x"]


def test_every_path_is_refused_without_a_session(lab: Lab) -> None:
    url = lab.server.url
    forged = {"Cookie": "atelier_session=forged.signature"}
    for path in PATHS:
        for method in ("GET", "POST", "PUT", "DELETE"):
            for headers in ({}, forged, {"Authorization": "Bearer atl_0_forged"}):
                response = httpx.request(method, url + path, headers=headers)
                assert response.status_code == 401, (method, path, response.status_code)
        page = httpx.get(url + path, headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"].startswith("/login?next=")


def test_websockets_are_refused_without_a_session(lab: Lab) -> None:
    ws_url = "ws" + lab.server.url.removeprefix("http")

    async def open_socket(path: str, headers: dict[str, str]) -> None:
        async with connect(ws_url + path, additional_headers=headers) as ws:
            await ws.recv()

    for path in ("/notebooks/api/kernels/x/channels", "/notebooks/api/events/subscribe"):
        for headers in ({}, {"Cookie": "atelier_session=forged.signature"}):
            with pytest.raises(InvalidStatus) as refused:
                asyncio.run(open_socket(path, headers))
            assert refused.value.response.status_code == 403


def test_viewers_are_refused(lab: Lab) -> None:
    response = httpx.get(f"{lab.server.url}/notebooks/lab", headers=lab.headers("viewer"))
    assert response.status_code == 403


def test_jupyterlab_serves_project_kernels_that_know_the_workbench(lab: Lab) -> None:
    lab.wait_for_jupyter()
    url, headers = lab.server.url, lab.headers()
    page = httpx.get(f"{url}/notebooks/lab", headers=headers)
    assert page.status_code == 200
    assert "JupyterLab" in page.text
    specs = httpx.get(f"{url}/notebooks/api/kernelspecs", headers=headers).json()
    assert list(specs["kernelspecs"]) == [kernel_name(PROJECT)]  # no kernel in Atelier's own env
    spec = specs["kernelspecs"][kernel_name(PROJECT)]["spec"]
    assert spec["display_name"] == f"Atelier · {PROJECT}"
    assert spec["env"] == {"ATELIER_PROJECT": PROJECT, "MLFLOW_EXPERIMENT_NAME": PROJECT}

    private = lab.workbench.workspace.private_dir / "notebooks" / lab.owner.name
    sock = private / "jupyter.sock"
    if sock.exists():  # short workspace paths keep the socket in the private folder
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    names = [t.name for t in lab.workbench.tokens.list(lab.owner.name) if t.active]
    assert f"notebook {lab.owner.name}" in names
    scoped = [t for t in lab.workbench.tokens.list(lab.owner.name) if t.active and t.scopes]
    assert scoped and all("tracking" in t.scopes and "jobs" in t.scopes for t in scoped)

    kernel = httpx.post(
        f"{url}/notebooks/api/kernels", headers=headers, json={"name": kernel_name(PROJECT)}
    ).json()
    try:
        code = (
            "import atelier, os\n"
            "ws = atelier.connect()\n"
            "n = ws.sql('SELECT count(*) AS n FROM bank.customers')['n'][0]\n"
            "print(n, os.environ['ATELIER_PROJECT'], ws.whoami()['name'],"
            " os.environ['MLFLOW_TRACKING_URI'].endswith('/mlflow'))"
        )
        output = asyncio.run(execute(lab, kernel["id"], code))
    finally:
        httpx.delete(f"{url}/notebooks/api/kernels/{kernel['id']}", headers=headers)
    assert output.split() == ["500", PROJECT, lab.owner.name, "True"]


async def execute(lab: Lab, kernel_id: str, code: str) -> str:
    """Run ``code`` in a kernel over the proxied WebSocket; its printed output."""
    ws_url = "ws" + lab.server.url.removeprefix("http")
    msg_id = uuid.uuid4().hex
    request = {
        "header": {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "buffers": [],
        "channel": "shell",
    }
    output: list[str] = []
    async with connect(
        f"{ws_url}/notebooks/api/kernels/{kernel_id}/channels",
        additional_headers=lab.headers(),
        max_size=None,
    ) as ws:
        await ws.send(json.dumps(request))
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "stream":
                output.append(message["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(message["content"]["traceback"]))
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                return "".join(output)


#: nbclient runs in a subprocess: its kernel client's sockets are none of this process's business.
RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=600, resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(notebook, sys.argv[1])
"""


def test_starter_notebook_runs_top_to_bottom(lab: Lab, tmp_path: Path) -> None:
    import nbformat

    project = lab.workbench.projects.get(PROJECT)
    assert (project.notebooks / "start.ipynb").is_file(), "new projects get the starter notebook"
    write_kernelspecs(tmp_path / "jupyter" / "kernels", [project])
    path = tmp_path / "start.ipynb"
    path.write_text(starter_notebook(PROJECT), encoding="utf-8")
    # What the project's Jupyter server gives its kernels.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "JUPYTER"))}
    env.update(
        ATELIER_URL=lab.server.url,
        ATELIER_TOKEN=lab.tokens["owner"],
        JUPYTER_PATH=str(tmp_path / "jupyter"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    run = subprocess.run(
        [sys.executable, "-c", RUN_NOTEBOOK, str(path), str(project.notebooks)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == kernel_name(PROJECT)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Best: " in text
    assert "AUC" in text
    assert any(o.output_type == "display_data" and "image/png" in o.data for o in outputs)


def jupyter_headers(lab: Lab, who: str = "owner") -> dict[str, str]:
    """How Jupyter clients (VS Code, PyCharm, ``@jupyterlab/services``) send a token."""
    return {"Authorization": f"token {lab.tokens[who]}"}


def channels(lab: Lab, kernel_id: str, token: str) -> str:
    """A kernel's WebSocket URL as ``@jupyterlab/services`` builds it outside a browser (VS
    Code): the token in the query string."""
    ws_url = "ws" + lab.server.url.removeprefix("http")
    query = urlencode({"session_id": uuid.uuid4().hex, "token": token})
    return f"{ws_url}/notebooks/api/kernels/{kernel_id}/channels?{query}"


async def run_code(url: str, code: str, headers: dict[str, str] | None = None) -> str:
    """Execute ``code`` in a kernel through its WebSocket with ``jupyter_client``'s messages
    (the handshake with ``headers``); what it printed."""
    session = Session(username="ide", key=b"")
    request = session.msg("execute_request", {"code": code, "silent": False})
    request["channel"] = "shell"
    output: list[str] = []
    async with connect(url, max_size=None, additional_headers=headers) as ws:
        await ws.send(json.dumps(request, default=json_default))
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if message.get("parent_header", {}).get("msg_id") != request["msg_id"]:
                continue
            kind = message["msg_type"]
            if kind == "stream":
                output.append(message["content"]["text"])
            elif kind == "error":
                raise AssertionError("\n".join(message["content"]["traceback"]))
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                return "".join(output)


def test_an_ide_runs_code_in_its_users_jupyterlab_with_a_personal_token(lab: Lab) -> None:
    """What VS Code does with the server URL ``http://HOST/notebooks/?token=TOKEN``: REST with
    ``Authorization: token``, WebSockets with ``?token=``. The first request waits for the
    user's JupyterLab to start instead of answering 503."""
    url, headers, token = lab.server.url, jupyter_headers(lab), lab.tokens["owner"]
    specs = httpx.get(f"{url}/notebooks/api/kernelspecs", headers=headers, timeout=90)
    assert specs.status_code == 200, specs.text
    assert kernel_name(PROJECT) in specs.json()["kernelspecs"]
    contents = httpx.get(f"{url}/notebooks/api/contents", params={"token": token})
    assert contents.status_code == 200
    assert PROJECT in [item["name"] for item in contents.json()["content"]]
    session = httpx.post(
        f"{url}/notebooks/api/sessions",
        headers=headers,
        json={
            "path": "ide.py",
            "type": "console",
            "name": "",
            "kernel": {"name": kernel_name(PROJECT)},
        },
    )
    assert session.status_code == 201, session.text
    kernel_id = session.json()["kernel"]["id"]
    try:
        code = "import os; print(os.environ['JUPYTER_CONFIG_DIR'], os.environ['ATELIER_PROJECT'])"
        output = asyncio.run(run_code(channels(lab, kernel_id, token), code))
        private = lab.workbench.workspace.private_dir / "notebooks" / lab.owner.name
        assert output.split() == [str(private / "config"), PROJECT]
        # The kernel's own token is the notebook's, never the one the IDE sent.
        leaked = asyncio.run(
            run_code(
                channels(lab, kernel_id, token), "import os; print(os.environ['ATELIER_TOKEN'])"
            )
        )
        assert leaked.strip() and leaked.strip() != token
    finally:
        httpx.delete(f"{url}/notebooks/api/sessions/{session.json()['id']}", headers=headers)
    # JupyterLab never saw the Atelier token (the gateway sends its own secret), and the
    # access log does not show the one sent in query strings.
    log = lab.workbench.workspace.logs_dir / f"jupyter-{lab.owner.name}.log"
    assert token not in log.read_text(encoding="utf-8", errors="replace")
    access_log = "".join(lab.server.output)
    assert "GET /notebooks/api/contents" in access_log
    assert "token=" not in access_log
    assert token not in access_log


EXTENSIONS = ("jupyterlab", "jupyter_lsp", "notebook_shim", "jupyter_server_terminals")


def test_a_local_jupyter_server_runs_its_kernels_on_atelier(lab: Lab, tmp_path: Path) -> None:
    """Jupyter's own client for remote kernels: ``jupyter lab --gateway-url`` on a laptop
    sends ``Authorization: token`` on REST and WebSocket requests alike."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "JUPYTER"))}
    for name in ("config", "data", "runtime"):
        env[f"JUPYTER_{name.upper()}_DIR"] = str(tmp_path / name)
    # The bare server: JupyterLab's own extensions only slow its start down here.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": dict.fromkeys(EXTENSIONS, False)}})
    )
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--port={port}",
        "--no-browser",
        "--IdentityProvider.token=local",
        f"--gateway-url={lab.server.url}/notebooks",
        f"--GatewayClient.auth_token={lab.tokens['owner']}",
        "--GatewayClient.request_timeout=90",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (tmp_path / "local.log").open("w")
    local = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": "token local"}
    try:
        wait_for(f"{base}/api/status", headers, local)
        kernel = httpx.post(
            f"{base}/api/kernels", headers=headers, json={"name": kernel_name(PROJECT)}, timeout=120
        )
        assert kernel.status_code == 201, kernel.text
        code = "import os; print(os.environ['JUPYTER_CONFIG_DIR'])"
        channels = f"ws://127.0.0.1:{port}/api/kernels/{kernel.json()['id']}/channels?token=local"
        output = asyncio.run(run_code(channels, code))
        private = lab.workbench.workspace.private_dir / "notebooks" / lab.owner.name
        assert output.strip() == str(private / "config")
        httpx.delete(f"{base}/api/kernels/{kernel.json()['id']}", headers=headers, timeout=60)
    finally:
        local.terminate()
        local.wait(timeout=30)
        log.close()


def wait_for(url: str, headers: dict[str, str], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, headers=headers).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer (exit code {process.poll()})")


def test_a_token_reaches_only_its_owners_jupyterlab(lab: Lab) -> None:
    url = lab.server.url
    kernel = httpx.post(
        f"{url}/notebooks/api/kernels",
        headers=jupyter_headers(lab),
        json={"name": kernel_name(PROJECT)},
        timeout=90,
    )
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    try:
        # Another scientist's token leads to their own JupyterLab, which knows no such kernel.
        sams = httpx.get(
            f"{url}/notebooks/api/kernels", headers=jupyter_headers(lab, "sam"), timeout=90
        )
        assert sams.status_code == 200, sams.text
        assert kernel_id not in [k["id"] for k in sams.json()]
        theirs = httpx.get(
            f"{url}/notebooks/api/kernels/{kernel_id}", headers=jupyter_headers(lab, "sam")
        )
        assert theirs.status_code == 404
        with pytest.raises(InvalidStatus):
            asyncio.run(run_code(channels(lab, kernel_id, lab.tokens["sam"]), "print(1)"))
        # A signed-in browser keeps its session: a link naming someone else's token does not
        # move it into their JupyterLab.
        with httpx.Client(base_url=url) as browser:
            assert lab.server.login_link is not None
            browser.get(lab.server.login_link)
            assert browser.cookies.get("atelier_session")
            mine = browser.get("/notebooks/api/kernels", params={"token": lab.tokens["sam"]})
            assert kernel_id in [k["id"] for k in mine.json()]

        # Viewers may not use notebooks, whatever the spelling; nor may a token made for
        # code (a notebook's own, a job's), nor a revoked or unknown one.
        for who, status in (("viewer", 403), ("revoked", 401)):
            for spelling in (
                {"headers": jupyter_headers(lab, who)},
                {"params": {"token": lab.tokens[who]}},
            ):
                response = httpx.get(f"{url}/notebooks/api/kernels", **spelling)  # type: ignore[arg-type]
                assert response.status_code == status, (who, spelling, response.text)
            with pytest.raises(InvalidStatus):
                asyncio.run(run_code(channels(lab, kernel_id, lab.tokens[who]), "print(1)"))
        _, code_token = lab.workbench.tokens.create_for(
            lab.owner.name, "notebook test", token_scopes.NOTEBOOK, timedelta(minutes=5)
        )
        scoped = httpx.get(f"{url}/notebooks/api/kernels", params={"token": code_token})
        assert scoped.status_code == 403
        assert "for code" in scoped.json()["detail"]
        for refused in (code_token, "atl_0_forged"):
            with pytest.raises(InvalidStatus):
                asyncio.run(run_code(channels(lab, kernel_id, refused), "print(1)"))
        for headers in ({"Authorization": "token atl_0_forged"}, {"Accept": "*/*"}):
            response = httpx.get(
                f"{url}/notebooks/api/kernels", headers=headers, params={"token": "x"}
            )
            assert response.status_code == 401  # an answer for API clients, not a redirect
    finally:
        httpx.delete(f"{url}/notebooks/api/kernels/{kernel_id}", headers=jupyter_headers(lab))


def test_project_roles_hold_in_jupyterlab(lab: Lab) -> None:
    """Another scientist's JupyterLab shows every project, but saving, renaming, running a
    project's kernel or committing to its repository is for its owners and editors: readers
    and others get a 403 whose message says why (JupyterLab shows it)."""
    url, sam = lab.server.url, jupyter_headers(lab, "sam")
    projects = lab.workbench.projects
    note = {"type": "file", "format": "text", "content": "hello"}
    notebook = f"{url}/notebooks/api/contents/{PROJECT}/notebooks/start.ipynb"
    kernel = {
        "path": f"{PROJECT}/x.ipynb",
        "type": "notebook",
        "kernel": {"name": kernel_name(PROJECT)},
    }

    def refused(response: httpx.Response, why: str) -> None:
        assert response.status_code == 403, response.text
        assert why in response.json()["message"]

    # Not a member: the project's notebooks open with a kernel that says it is read only
    # (not "No Kernel"), and starting it is refused with the reason.
    specs = httpx.get(f"{url}/notebooks/api/kernelspecs", headers=sam, timeout=90).json()
    shown = specs["kernelspecs"][kernel_name(PROJECT)]["spec"]["display_name"]
    assert shown.endswith("(read only)")
    # Nothing changes, whatever the spelling of the path.
    first = httpx.put(
        f"{url}/notebooks/api/contents/{PROJECT}/sam.txt", headers=sam, json=note, timeout=90
    )
    refused(first, f"sam is not a member of project '{PROJECT}'")
    for path in (f"sam/../{PROJECT}/sam.txt", f"./{PROJECT}//sam.txt", "sam.txt"):
        refused(httpx.put(f"{url}/notebooks/api/contents/{path}", headers=sam, json=note), "")
    # Whatever the spelling: the check reads the path as Jupyter does.
    for spelling in ("api/sessions", "/api/sessions", "api/./sessions", "x/../api/sessions"):
        started = httpx.post(f"{url}/notebooks/{spelling}", headers=sam, json=kernel)
        refused(started, "run its notebooks")
    refused(httpx.post(f"{url}/notebooks/git/{PROJECT}/commit", headers=sam, json={}), "git")
    assert httpx.get(notebook, headers=sam).status_code == 200  # reading is open, as in the portal

    # A reader reads, and is told they read only; an editor works.
    projects.add_member(PROJECT, "sam", lab.owner, role="reader")
    try:
        refused(httpx.delete(notebook, headers=sam), "sam is a reader")
        moved = httpx.patch(notebook, headers=sam, json={"path": f"{PROJECT}/moved.ipynb"})
        refused(moved, "sam is a reader")
        refused(
            httpx.post(
                f"{url}/notebooks/api/kernels", headers=sam, json={"name": kernel_name(PROJECT)}
            ),
            "reader",
        )
        assert (
            httpx.post(f"{url}/notebooks/git/{PROJECT}/status", headers=sam, json={}).status_code
            != 403
        )
        projects.add_member(PROJECT, "sam", lab.owner, role="editor")
        saved = httpx.put(f"{url}/notebooks/api/contents/{PROJECT}/sam.txt", headers=sam, json=note)
        assert saved.status_code == 201, saved.text
        # The git panel's calls: stage and commit, authored and committed as sam.
        git_url = f"{url}/notebooks/git/{PROJECT}"
        staged = httpx.post(
            f"{git_url}/add", headers=sam, json={"add_all": False, "filename": "sam.txt"}
        )
        assert staged.status_code == 200, staged.text
        commit = httpx.post(f"{git_url}/commit", headers=sam, json={"commit_msg": "from the panel"})
        assert commit.status_code == 200, commit.text
        folder = projects.get(PROJECT).path
        last = subprocess.run(
            ["git", "log", "-1", "--format=%an|%cn|%s"], cwd=folder, capture_output=True, text=True
        )
        assert last.stdout.strip() == "sam|sam|from the panel"
        # Moving a file of one's project out of it, to a place one does not edit, is refused.
        out = httpx.patch(
            f"{url}/notebooks/api/contents/{PROJECT}/sam.txt",
            headers=sam,
            json={"path": "elsewhere.txt"},
        )
        refused(out, "only admins change it")
    finally:
        projects.remove_member(PROJECT, "sam", lab.owner)
        (projects.get(PROJECT).path / "sam.txt").unlink(missing_ok=True)


def test_stopping_atelier_stops_jupyter_and_revokes_its_token(lab: Lab) -> None:
    lab.wait_for_jupyter()
    private = lab.workbench.workspace.private_dir / "notebooks" / lab.owner.name
    config = str(private / "jupyter_server_config.json")
    assert jupyter_pids(config)
    lab.server.stop()
    assert "Application shutdown complete." in "".join(lab.server.output)
    assert not jupyter_pids(config)
    notebook_tokens = [
        t
        for t in lab.workbench.tokens.list(lab.owner.name)
        if t.name == f"notebook {lab.owner.name}"
    ]
    assert notebook_tokens
    assert not [t for t in notebook_tokens if t.active]


def jupyter_pids(config: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--config={config}".encode() in cmdline and _running(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and os.getpid() != pid

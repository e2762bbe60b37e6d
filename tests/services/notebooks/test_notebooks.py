"""JupyterLab behind Atelier: refused without a session, a project kernel that knows the
workbench, the starter notebook run headless, and nothing left running afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from atelier.services.notebooks import kernel_name, starter_notebook, write_kernelspecs
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
    assert spec["env"] == {"ATELIER_PROJECT": PROJECT}

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

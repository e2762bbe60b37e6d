"""``POST /api/v1/apps/deploy/bundle``: a hosted app's folder as one tar.gz, read as hostile.

Every archive below is refused with one clear 422 (or 403 for a caller who may not deploy),
and nothing is written: not outside the apps folder, not in it, not in the app's record.
"""

from __future__ import annotations

import io
import tarfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from atelier.contract.apps import BUNDLE_MEDIA_TYPE
from atelier.services.auth import scopes
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

Member = tuple[tarfile.TarInfo, bytes | None]
APP = "import streamlit as st\nst.title('ours')\n"


def file(name: str, content: str = APP) -> Member:
    data = content.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special(name: str, kind: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


def bundle(*members: Member) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def deploy(client: Any, headers: dict[str, str], body: bytes, **params: str) -> Any:
    return client.post(
        "/api/v1/apps/deploy/bundle",
        params={"name": "ours", **params},
        content=body,
        headers={**headers, "Content-Type": BUNDLE_MEDIA_TYPE},
    )


HOSTILE = [
    (bundle(file("app.py"), file("../escaped.py")), "must stay inside"),
    (bundle(file("app.py"), file("a/../../escaped.py")), "must stay inside"),
    (bundle(file("/tmp/escaped.py")), "absolute paths are refused"),
    (bundle(file("app.py"), link("etc", "/etc")), "links are refused"),
    (bundle(link("pages", ".."), file("pages/escaped.py")), "links are refused"),
    (bundle(file("app.py"), link("hard", "/etc/passwd", tarfile.LNKTYPE)), "links are refused"),
    (bundle(file("app.py"), special("fifo", tarfile.FIFOTYPE)), "only files and folders"),
    (bundle(file("app.py"), special("dev", tarfile.CHRTYPE)), "only files and folders"),
    (bundle(file("app.py"), file("app.py")), "appears twice"),
    (bundle(file("app.py"), file("./app.py")), "appears twice"),
    (bundle(file("x"), file("x/app.py")), "x is also a file"),
    (b"PK\x03\x04 a zip file", "not a tar.gz archive"),
    (bundle(file("main.py")), "'app.py' is not in the folder"),
    (bundle(file("app.py", "def (:\n")), "app.py, line 1"),
]


def test_hostile_bundles_are_refused_and_leave_nothing(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    folder = workbench.apps.folder
    for body, message in HOSTILE:
        response = deploy(client, accounts.headers("scientist"), body)
        assert response.status_code == 422, response.text
        assert message in response.json()["detail"]
        assert not folder.exists() or list(folder.iterdir()) == [], message
    assert not (folder.parent / "escaped.py").exists() and not Path("/tmp/escaped.py").exists()
    assert workbench.apps.registry.list() == []
    assert not any(e.success for e in workbench.audit.entries(limit=50, action="app.deploy"))


def test_who_may_deploy_a_folder(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    ours = bundle(file("app.py"), file("lib/util.py", "X = 1\n"))
    created = deploy(client, accounts.headers("scientist"), ours, title="Ours")
    assert created.status_code == 201, created.text
    assert (created.json()["kind"], created.json()["owner"]) == ("streamlit", "scientist1")
    folder = workbench.apps.folder / "ours"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.py")) == [
        "app.py",
        "lib/util.py",
    ]

    # Another scientist, a viewer, an app's or a job's token: refused, nothing changes.
    workbench.users.create("eve", "scientist", PASSWORD)
    eve = {"Authorization": f"Bearer {workbench.tokens.create('eve', 'own', 1)[1]}"}
    hostile = bundle(file("app.py", "import dash\nprint('mine now')\n"), file("evil.py", "1\n"))
    _, app_token = workbench.tokens.create_for(
        "scientist1", "app other", scopes.APP, timedelta(hours=1)
    )
    _, job_token = workbench.tokens.create_for(
        "scientist1", "job 1", scopes.JOB, timedelta(hours=1)
    )
    for headers, status in (
        (eve, 403),
        (accounts.headers("viewer"), 403),
        ({"Authorization": f"Bearer {app_token}"}, 403),
        ({"Authorization": f"Bearer {job_token}"}, 403),
    ):
        response = deploy(client, headers, hostile)
        assert response.status_code == status, response.text
    assert not (folder / "evil.py").exists()
    assert (folder / "app.py").read_text() == APP
    assert workbench.apps.registry.get("ours").kind == "streamlit"
    assert [p.name for p in workbench.apps.folder.iterdir()] == ["ours"]

    # Only a tar.gz body; the entry names a Python file inside the folder.
    response = client.post(
        "/api/v1/apps/deploy/bundle",
        params={"name": "ours"},
        json={"script": APP},
        headers=accounts.headers("scientist"),
    )
    assert response.status_code == 422 and "gzip-compressed tar" in response.json()["detail"]
    for entry in ("../app.py", "/etc/passwd", "lib/util.txt"):
        response = deploy(client, accounts.headers("scientist"), ours, entry=entry)
        assert response.status_code == 422, entry

    # The owner replaces the folder whole: files dropped from it are gone.
    again = deploy(
        client, accounts.headers("scientist"), bundle(file("src/main.py")), entry="src/main.py"
    )
    assert again.status_code == 201, again.text
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "src/main.py"
    ]
    assert workbench.apps.registry.get("ours").script == str(folder / "src" / "main.py")
    done = [e for e in workbench.audit.entries(limit=20, action="app.deploy") if e.success]
    assert len(done) == 2 and done[0].detail["entry"] == "src/main.py"


SERVER = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from lib.greeting import GREETING  # a module of the folder

with open("static/name.txt") as handle:  # a file of the folder, from the working directory
    NAME = handle.read().strip()


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{GREETING} {NAME}".encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)


HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Hello).serve_forever()
"""


def test_a_deployed_folder_runs_from_its_own_files(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    import httpx

    # The app's folder is the working directory; the entry's own folder is on sys.path.
    body = bundle(
        file("src/server.py", SERVER),
        file("src/lib/__init__.py", ""),
        file("src/lib/greeting.py", "GREETING = 'hello'\n"),
        file("static/name.txt", "atelier\n"),
    )
    created = deploy(
        client, accounts.headers("scientist"), body, entry="src/server.py", kind="dash"
    )
    assert created.status_code == 201, created.text
    app = workbench.apps.registry.get("ours")
    hosted = workbench.apps.ready(app, timeout=30)
    try:
        answer = httpx.get(f"http://127.0.0.1:{hosted.port}/", timeout=5)
        assert answer.text == "hello atelier"
    finally:
        workbench.apps.supervisor.stop("ours")


def test_a_folder_is_an_upload_bounded_by_the_archive_limit(  # type: ignore[no-untyped-def]
    workbench: Workbench, accounts: Accounts
) -> None:
    """A folder's archive is an upload (``server.max_upload_size``, not the small
    ``server.max_body_size``), and is bounded by the trees' own limit on archives."""
    import os

    from fastapi.testclient import TestClient

    from atelier.contract.trees import MAX_ARCHIVE
    from atelier.server.app import create_app
    from atelier.server.body_limit import Limits

    limits = Limits(body=1, upload=2)
    for path in ("/api/v1/apps/deploy/bundle", "/api/v1/projects/churn/files"):
        assert limits.for_path(path)[0] == 2, path
    for path in ("/api/v1/apps/deploy", "/api/v1/projects/churn", "/api/v1/projects/a/files/b"):
        assert limits.for_path(path)[0] == 1, path

    workbench.settings.server.max_body_size = "1KB"
    headers = {**accounts.headers("scientist"), "Content-Type": BUNDLE_MEDIA_TYPE}
    noise = os.urandom(8192).hex()  # does not compress below 1 KB
    with TestClient(create_app(workbench), base_url="http://127.0.0.1") as client:
        body = bundle(file("app.py"), file("static/noise.txt", noise))
        assert len(body) > 1024
        created = client.post(
            "/api/v1/apps/deploy/bundle", params={"name": "ours"}, content=body, headers=headers
        )
        assert created.status_code == 201, created.text
        assert (workbench.apps.folder / "ours" / "static" / "noise.txt").read_text() == noise

        def endless() -> Any:
            chunk = b"\0" * 2**20
            for _ in range(MAX_ARCHIVE // len(chunk) + 2):
                yield chunk

        refused = client.post(
            "/api/v1/apps/deploy/bundle",
            params={"name": "ours", "title": "replaced"},
            content=endless(),
            headers=headers,
        )
        assert refused.status_code == 413, refused.text
        assert "larger than" in refused.json()["detail"]
        # Who may deploy is checked before the body is read: another scientist's endless
        # body is a 403 (audited), not a 413.
        workbench.users.create("eve", "scientist", PASSWORD)
        eve = {"Authorization": f"Bearer {workbench.tokens.create('eve', 'own', 1)[1]}"}
        stranger = client.post(
            "/api/v1/apps/deploy/bundle",
            params={"name": "ours"},
            content=endless(),
            headers={**eve, "Content-Type": BUNDLE_MEDIA_TYPE},
        )
        assert stranger.status_code == 403, stranger.text
        refusals = [
            e for e in workbench.audit.entries(limit=20, action="app.deploy") if not e.success
        ]
        assert [e.actor for e in refusals] == ["eve"]
        declared = client.post(
            "/api/v1/apps/deploy/bundle",
            params={"name": "ours"},
            content=b"x",
            headers={**headers, "Content-Length": str(MAX_ARCHIVE + 1)},
        )
        assert declared.status_code == 413
    assert workbench.apps.registry.get("ours").title == "ours"
    assert [p.name for p in workbench.apps.folder.iterdir()] == ["ours"]

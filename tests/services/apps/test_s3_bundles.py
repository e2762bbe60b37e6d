"""With ``[storage]``, a hosted app's folder is kept in the bucket (moto's S3 server here):
a second server of the workspace, with a folder of its own, runs the app from the bucket's
copy, follows a new deployment made through the first, and a deleted app leaves nothing."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atelier.backends.storage import ObjectStore
from atelier.services.apps import service as app_service
from atelier.services.workbench import Workbench
from tests.s3_server import S3Server, two_servers

SERVER = """
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = open("greeting.txt").read().encode() if os.path.exists("greeting.txt") else b"-"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Hello).serve_forever()
"""


@pytest.fixture
def servers(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workbench, Workbench, ObjectStore]]:
    with two_servers(s3_server, tmp_path_factory) as both:
        one, two, _ = both
        assert two.workspace.metadata_url == one.workspace.metadata_url
        yield both


def _answer(wb: Workbench, name: str) -> str:
    app = wb.apps.registry.get(name)
    hosted = wb.apps.ready(app, timeout=60)
    return httpx.get(f"http://127.0.0.1:{hosted.port}/", timeout=10).text


def test_a_hosted_app_runs_from_the_buckets_copy_on_another_server(
    servers: tuple[Workbench, Workbench, ObjectStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two, store = servers
    monkeypatch.setattr(app_service, "BUNDLE_CHECK_SECONDS", 0.0)
    owner = one.owner()
    # A folder: the entry and a file it reads from its working directory.
    archive = _archive({"server.py": SERVER, "greeting.txt": "hello v1"})
    one.apps.deploy_folder("hello", archive, owner, entry="server.py", kind="dash")
    keys = store.keys_under(store.url("apps", "hello"))
    bundles = {k.split("/")[4] for k in keys if not k.endswith("/CURRENT")}
    assert len(bundles) == 1
    (live,) = bundles
    assert sorted(keys) == sorted(
        [
            "teams/ml/apps/hello/CURRENT",
            f"teams/ml/apps/hello/{live}/greeting.txt",
            f"teams/ml/apps/hello/{live}/server.py",
        ]
    )
    assert store.read_text(store.url("apps", "hello", "CURRENT")) == live

    assert not (two.apps.folder / "hello").exists()
    try:
        assert _answer(two, "hello") == "hello v1"
        assert (two.apps.folder / "hello" / "greeting.txt").read_text() == "hello v1"

        # Deployed again through the first server: the second follows, the old bundle goes.
        archive = _archive({"server.py": SERVER, "greeting.txt": "hello v2"})
        one.apps.deploy_folder("hello", archive, owner, entry="server.py", kind="dash")
        assert _answer(two, "hello") == "hello v2"
        keys = store.keys_under(store.url("apps", "hello"))
        assert not [k for k in keys if f"/{live}/" in k]
        assert len(keys) == 3
    finally:
        two.apps.supervisor.stop("hello")
        one.apps.supervisor.stop("hello")

    one.apps.delete("hello", owner)
    assert store.keys_under(store.url("apps", "hello")) == []


def test_a_refused_deployment_leaves_the_bucket_as_it_was(
    servers: tuple[Workbench, Workbench, ObjectStore],
) -> None:
    one, _, store = servers
    owner = one.owner()
    one.apps.deploy("plain", "print('one')\n", owner, kind="streamlit")
    before = sorted(store.keys_under(store.url("apps", "plain")))
    assert len(before) == 2  # CURRENT and app.py
    with pytest.raises(Exception, match="streamlit or dash"):
        one.apps.deploy("plain", "print('two')\n", owner, kind="flask")
    assert sorted(store.keys_under(store.url("apps", "plain"))) == before


def test_a_slow_bundle_fetch_holds_up_no_other_app(
    servers: tuple[Workbench, Workbench, ObjectStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two, _ = servers
    monkeypatch.setattr(app_service, "BUNDLE_CHECK_SECONDS", 0.0)
    owner = one.owner()
    for name in ("slow", "quick"):
        one.apps.deploy(name, f"print({name!r})\n", owner, kind="streamlit")
    fetching, release = threading.Event(), threading.Event()
    load = two.apps.bundles.load

    def held(key: str, path: Path) -> Path | None:
        if key.startswith("slow/"):
            fetching.set()
            release.wait(30)
        return load(key, path)

    monkeypatch.setattr(two.apps.bundles, "load", held)
    slow = threading.Thread(target=two.apps._sync_bundle, args=("slow",))
    slow.start()
    try:
        assert fetching.wait(30)
        quick = threading.Thread(target=two.apps._sync_bundle, args=("quick",))
        quick.start()
        quick.join(30)
        assert not quick.is_alive(), "the other app's fetch waited for the slow one"
        assert (two.apps.folder / "quick" / "app.py").read_text() == "print('quick')\n"
    finally:
        release.set()
        slow.join(30)
    assert (two.apps.folder / "slow" / "app.py").read_text() == "print('slow')\n"


def _archive(files: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def test_another_server_has_the_live_folder_for_an_image_build(
    servers: tuple[Workbench, Workbench, ObjectStore],
) -> None:
    one, two, _ = servers
    owner = one.owner()
    archive = _archive({"src/main.py": "print('v1')\n", "data.txt": "1"})
    app = one.apps.deploy_folder("board", archive, owner, entry="src/main.py", kind="streamlit")
    assert app.script is not None
    script = two.apps.local_script("board", app.script)
    assert script == two.apps.folder / "board" / "src" / "main.py"
    assert script.read_text() == "print('v1')\n"
    assert (two.apps.folder / "board" / "data.txt").read_text() == "1"
    # Deployed again: asked again (as for an image build), the copy here follows at once.
    archive = _archive({"src/main.py": "print('v2')\n"})
    one.apps.deploy_folder("board", archive, owner, entry="src/main.py", kind="streamlit")
    assert two.apps.local_script("board", app.script).read_text() == "print('v2')\n"
    assert not (two.apps.folder / "board" / "data.txt").exists()

"""A real S3 protocol server for the tests: moto's, in a process of its own on a free port.

Each test takes a bucket of its own (:meth:`S3Server.new_store`), so tests never see each
other's objects; the server is started once per session and stopped at its end.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from atelier.backends.storage import ObjectStore

if TYPE_CHECKING:
    import pytest

    from atelier.services.workbench import Workbench

ACCESS_KEY_ID = "atelier-test-key"
SECRET_ACCESS_KEY = "atelier-test-secret-value"


@dataclass
class S3Server:
    endpoint: str

    def new_store(self, prefix: str = "team") -> ObjectStore:
        """A new, empty bucket on this server, reached like an S3-compatible store."""
        store = ObjectStore(
            bucket=f"atelier-{uuid.uuid4().hex[:12]}",
            prefix=prefix,
            endpoint=self.endpoint,
            region="us-east-1",
            url_style="path",
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
        )
        store.client().create_bucket(Bucket=store.bucket)
        return store

    def environment(self, store: ObjectStore) -> dict[str, str]:
        """``ATELIER_STORAGE_*`` variables configuring a workspace on ``store``."""
        return {
            "ATELIER_STORAGE_BUCKET": store.bucket,
            "ATELIER_STORAGE_PREFIX": store.prefix,
            "ATELIER_STORAGE_ENDPOINT": store.endpoint,
            "ATELIER_STORAGE_URL_STYLE": "path",
            "ATELIER_STORAGE_ACCESS_KEY_ID": store.access_key_id,
            "ATELIER_STORAGE_SECRET_ACCESS_KEY": store.secret_access_key,
        }


@contextmanager
def two_servers(
    server: S3Server, tmp_path_factory: pytest.TempPathFactory, prefix: str = "teams/ml"
) -> Iterator[tuple[Workbench, Workbench, ObjectStore]]:
    """Two servers' workbenches, as on two machines: each a folder of its own, the same
    metadata database, lake catalog and bucket (a new one)."""
    from atelier.config import Workspace
    from atelier.services.workbench import Workbench
    from tests.conftest import new_workspace

    store = server.new_store(prefix=prefix)
    environ = server.environment(store)
    first = Workspace.open(new_workspace(tmp_path_factory.mktemp("one")), environ=environ)
    shared = {
        **environ,
        "ATELIER_METADATA_URL": first.metadata_url,
        "ATELIER_WAREHOUSE_CATALOG_URL": str(first.data_dir / "lake.sqlite"),
    }
    second = Workspace.open(new_workspace(tmp_path_factory.mktemp("two")), environ=shared)
    one, two = Workbench(first), Workbench(second)
    try:
        yield one, two, store
    finally:
        one.close()
        two.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1, stopped (and its objects gone) on exit."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto's S3 server exited with {process.returncode}")
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not answer in 60 s") from None
                time.sleep(0.1)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

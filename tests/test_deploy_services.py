"""deploy/compose.yaml, run: its two Atelier servers started here with the environment the file
gives them, on the services this test starts in place of the file's.

Images cannot be pulled everywhere the tests run, so each service runs as the test's own
process with the file's configuration: the ``environment`` of ``atelier-1`` and ``atelier-2``
is taken as written, and only what names the other services or this host is replaced:

* the addresses of PostgreSQL (two fresh databases on ``ATELIER_TEST_POSTGRES_URL``'s server,
  for the metadata and the DuckLake catalog, as ``deploy/initdb`` makes ``atelier`` and
  ``lake``) and of MinIO (moto's S3 server, with the file's bucket made in it);
* the workspace volume (a folder shared by both servers) and the ports (free ones: both
  servers run on one host here, each in a container of its own there), with the internal
  addresses that name them;
* ``ATELIER_SECRETS_KEY``, a placeholder that is no Fernet key.

The S3 credentials stay the file's (moto takes any key pair). The Ray head's address stays
too: no job runs here, and a server reaches Ray only to run one. The proxy's public addresses
stay: they only make printed links. Every other value is the file's, MLflow started on ``up``
included; each server is started as the image starts it: ``atelier up``, with no options.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pyarrow as pa
import pytest
import yaml

import atelier
from atelier.backends.metadata import Database
from atelier.backends.storage import ObjectStore
from atelier.config import Workspace, init_workspace
from atelier.services.leases import Leases
from atelier.services.workbench import Workbench
from tests.conftest import (
    PASSWORD,
    RunningServer,
    _drain,
    free_port,
    fresh_postgres_database,
)
from tests.s3_server import S3Server

pytestmark = pytest.mark.postgres

COMPOSE = Path(__file__).parent.parent / "deploy" / "compose.yaml"
SERVERS = ("atelier-1", "atelier-2")
#: The variables whose values name another service of the file, this host or a placeholder,
#: by what stands there in the file; every one is replaced, nothing else is.
REPLACED = {
    "ATELIER_WORKSPACE": "/srv/atelier",
    "ATELIER_SERVER_PORT": "8700",
    "ATELIER_SERVER_APPS_PORT": "8701",
    "ATELIER_SERVER_INTERNAL_URL": "{service}:8700",
    "ATELIER_METADATA_URL": "@postgres:5432/atelier",
    "ATELIER_WAREHOUSE_CATALOG_URL": "@postgres:5432/lake",
    "ATELIER_STORAGE_ENDPOINT": "http://minio:9000",
    "ATELIER_SECRETS_KEY": "CHANGE-ME",
}
ROWS = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "city": ["Lyon", "Nantes", "Lille", "Brest"],
        "amount": [10.5, -2.25, 0.0, 1e6],
    }
)


def _file_environment(service: str) -> dict[str, str]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    environment = compose["services"][service]["environment"]
    return {str(k): str(v) for k, v in environment.items()}


def _on(url: str, host: str) -> str:
    """``url`` with its host and port replaced by ``host`` (``name:port``)."""
    return urlunsplit(urlsplit(url)._replace(netloc=host))


@pytest.fixture(scope="module")
def started(
    tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server
) -> Iterator[tuple[list[RunningServer], list[dict[str, str]], ObjectStore]]:
    """Both servers, running; their environments; the file's bucket on moto."""
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    with ExitStack() as stack:
        metadata = stack.enter_context(fresh_postgres_database(prefix="atelier_deploy"))
        catalog = stack.enter_context(fresh_postgres_database(prefix="atelier_deploy_lake"))
        # The volume: `atelier init` of the image's start command, once for both servers.
        root, _ = init_workspace(tmp_path_factory.mktemp("deploy") / "srv-atelier")
        first = _file_environment(SERVERS[0])
        store = ObjectStore(
            bucket=first["ATELIER_STORAGE_BUCKET"],
            prefix=first["ATELIER_STORAGE_PREFIX"],
            endpoint=s3_server.endpoint,
            region="us-east-1",
            url_style="path",
            access_key_id=first["ATELIER_STORAGE_ACCESS_KEY_ID"],
            secret_access_key=first["ATELIER_STORAGE_SECRET_ACCESS_KEY"],
        )
        store.client().create_bucket(Bucket=store.bucket)
        stack.callback(_remove_bucket, store)
        servers: list[RunningServer] = []
        environments: list[dict[str, str]] = []
        for service in SERVERS:
            env = _file_environment(service)
            for name, written in REPLACED.items():
                assert written.format(service=service) in env[name], (service, name)
            port, apps_port = free_port(), free_port()
            env |= {
                "ATELIER_WORKSPACE": str(root),
                "ATELIER_SERVER_PORT": str(port),
                "ATELIER_SERVER_APPS_PORT": str(apps_port),
                "ATELIER_SERVER_INTERNAL_URL": _on(
                    env["ATELIER_SERVER_INTERNAL_URL"], f"127.0.0.1:{port}"
                ),
                "ATELIER_METADATA_URL": metadata,
                "ATELIER_WAREHOUSE_CATALOG_URL": catalog,
                "ATELIER_STORAGE_ENDPOINT": s3_server.endpoint,
                "ATELIER_SECRETS_KEY": key,
            }
            running = _up(Workspace.open(root, environ=env), env, f"http://127.0.0.1:{port}")
            stack.callback(running.stop)
            servers.append(running)
            environments.append(env)
        yield servers, environments, store


def _remove_bucket(store: ObjectStore) -> None:
    client = store.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=store.bucket, Key=item["Key"])
    client.delete_bucket(Bucket=store.bucket)


def _up(workspace: Workspace, env: dict[str, str], url: str) -> RunningServer:
    """``atelier up`` with ``env`` as the only ``ATELIER_*`` and AWS variables, as the image's
    start command runs it; returns once /health answers."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "AWS_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "up"],
        env={**inherited, **env},
        cwd=workspace.root.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = RunningServer(url, process, workspace, None)
    running.reader = _drain(process, running.output)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return running
        except httpx.TransportError:
            time.sleep(0.2)
    running.stop()
    output = "".join(running.output[-30:])
    raise AssertionError(f"atelier up with compose.yaml's environment did not answer:\n{output}")


def test_the_compose_servers_share_tables_through_postgres_and_s3(
    started: tuple[list[RunningServer], list[dict[str, str]], ObjectStore],
) -> None:
    servers, environments, store = started
    env = environments[0]
    for running in servers:
        health = httpx.get(f"{running.url}/health", timeout=10)
        assert health.status_code == 200, health.text
    # The first admin, as the file's header says: on atelier-1's configuration.
    workbench = Workbench(Workspace.open(servers[0].workspace.root, environ=env))
    try:
        workbench.users.create("alice", "admin", PASSWORD)
        token = workbench.tokens.create("alice", "deploy test", 1)[1]
    finally:
        workbench.close()

    with atelier.connect(servers[0].url, token) as one:
        one.upload(ROWS, "deploy.orders", mode="create")
    with atelier.connect(servers[1].url, token) as two:
        read = two.sql("SELECT id, city, amount FROM deploy.orders ORDER BY id", format="arrow")
    assert read.to_pylist() == ROWS.to_pylist()

    prefix = f"{env['ATELIER_STORAGE_PREFIX']}/lake/deploy/orders/"
    keys = store.keys_under(store.url("lake", "deploy", "orders"))
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert parquet and all(k.startswith(prefix) for k in parquet), keys
    assert not list(servers[0].workspace.root.rglob("*.parquet"))

    # Each server announced itself under the file's node name, at its internal address.
    db = Database(env["ATELIER_METADATA_URL"])
    try:
        live = sorted(
            (lease.holder.split(":")[0], lease.address) for lease in Leases(db).live("server:")
        )
    finally:
        db.dispose()
    assert live == [
        (e["ATELIER_NODE_NAME"], e["ATELIER_SERVER_INTERNAL_URL"]) for e in environments
    ]

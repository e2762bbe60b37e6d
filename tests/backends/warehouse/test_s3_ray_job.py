"""A job on the Ray cluster reads a table of the lake on S3 through the SDK, with the job's
own scoped token, and writes results back as new table versions; the cluster never holds the
bucket's credentials (the job reaches the data through the Atelier server)."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest

from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, new_workspace, start_server
from tests.s3_server import S3Server

JOB = """
import os
import atelier

CREDENTIALS = ("AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "ATELIER_STORAGE_")
held = [name for name in os.environ if name.startswith(CREDENTIALS)]
assert not held, held
client = atelier.connect()
orders = client.table("sales.orders")
totals = orders.groupby("customer", as_index=False)["amount"].sum()
written = client.upload(totals, "sales.totals", mode="create")
again = client.upload(orders.head(10), "sales.orders", mode="append")
print("wrote", written["version"], again["version"], flush=True)
"""


@pytest.mark.timeout(900)  # the session's Ray head may start here
def test_a_ray_job_reads_and_writes_the_lake_on_s3(
    ray_head: str,
    tmp_path: Path,
    s3_server: S3Server,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = s3_server.new_store(prefix="ray")
    environ = {
        **s3_server.environment(store),
        "ATELIER_WAREHOUSE_CATALOG_URL": f"{postgres_url}?schema=lake_{uuid.uuid4().hex[:12]}",
    }
    root = new_workspace(tmp_path / "ws")
    with (root / "atelier.toml").open("a") as config:
        config.write('\n[profiles.small-ray]\nbackend = "ray"\nmemory = "500MB"\n')
    environ["ATELIER_COMPUTE_RAY_ADDRESS"] = ray_head
    workbench = Workbench(Workspace.open(root, environ=environ))
    workbench.users.create("ada", "scientist", PASSWORD)
    token = workbench.tokens.create("ada", "t", 1)[1]
    orders = pd.DataFrame({"customer": [i % 5 for i in range(300)], "amount": range(300)})
    workbench.ingest.upload(orders, "sales.orders", by="ada")
    (root / "job.py").write_text(JOB)
    with monkeypatch.context() as patch:
        for key, value in environ.items():
            patch.setenv(key, value)
        server = start_server(workbench.workspace)
    with contextlib.ExitStack() as stack:
        stack.callback(workbench.close)
        stack.callback(server.stop)
        api = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        stack.callback(api.close)
        created = api.post("/api/v1/jobs", json={"target": ["job.py"], "profile": "small-ray"})
        assert created.status_code == 201, created.text
        job = created.json()
        assert job["backend"] == "ray"
        done = workbench.jobs.wait(job["id"], 600)
        log = workbench.jobs.read_log(job["id"])[0]
        assert done.state == "succeeded", log

        totals = workbench.warehouse.read("totals", schema="sales").to_pandas()
        assert sorted(totals["amount"]) == sorted(orders.groupby("customer")["amount"].sum())
        versions = workbench.warehouse.snapshots("orders", schema="sales")
        assert [v.rows_inserted for v in versions] == [300, 10]
        assert versions[-1].author == "ada"
        assert workbench.warehouse.read("orders", schema="sales").num_rows == 310
        keys = store.keys_under(store.url("lake", "sales"))
        assert any(k.startswith("ray/lake/sales/totals/") for k in keys)
        assert not list(root.rglob("*.parquet"))
        # The job's token ended with the job.
        assert all(not t.active for t in workbench.tokens.list("ada") if t.name.startswith("job "))

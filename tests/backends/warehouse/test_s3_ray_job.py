"""A job on a Ray cluster (the session's head plus a worker node of its own) reads a table and a
training set of the lake on S3 through the SDK, with the job's own scoped token, on the worker
node, and writes results back as new table versions; the cluster never holds the bucket's
credentials (the job reaches the data through the Atelier server)."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest

from atelier.config import Workspace
from atelier.services.features.loader import from_dict
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, new_workspace, start_server
from tests.ray_cluster import WORKER_RESOURCE
from tests.s3_server import S3Server

#: The driver runs on the head (the profile's CPU is the head's only one); its work is a Ray
#: task only the worker node can run. The task inherits the job's environment: the server's
#: address and the job's token, never a storage credential.
JOB = """
import json
import os

import ray

CREDENTIALS = ("AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "ATELIER_STORAGE_")


@ray.remote(num_cpus=1, resources={"WORKER_RESOURCE": 1})
def work():
    import atelier

    held = [name for name in os.environ if name.startswith(CREDENTIALS)]
    assert not held, held
    client = atelier.connect()
    orders = client.table("sales.orders")
    train = client.features.training_set("sales.labels", ["spend:amount"], timestamp="ts")
    totals = orders.groupby("customer", as_index=False)["amount"].sum()
    written = client.upload(totals, "sales.totals", mode="create")
    saved = client.upload(train, "ml.churn_train", mode="create")
    again = client.upload(orders.head(10)[["customer", "amount", "ts"]], "sales.orders",
                          mode="append")
    return {
        "node": ray.get_runtime_context().get_node_id(),
        "orders": len(orders),
        "train": len(train),
        # NaN (no order yet) is not equal to itself.
        "train_amounts": {int(c): (None if a != a else int(a))
                          for c, a in zip(train["customer"], train["amount"])},
        "versions": [written["version"], saved["version"], again["version"]],
    }


ray.init()
driver = ray.get_runtime_context().get_node_id()
result = ray.get(work.remote())
result["driver"] = driver
print("RESULT " + json.dumps(result), flush=True)
""".replace("WORKER_RESOURCE", WORKER_RESOURCE)

FEATURES = {
    "project": "churn",
    "entities": [{"name": "customer", "keys": ["customer"]}],
    "views": [
        {
            "name": "spend",
            "entity": "customer",
            "source": "sales.orders",
            "timestamp": "ts",
            "features": ["amount"],
        }
    ],
}


@pytest.mark.timeout(900)  # the session's Ray head may start here
def test_a_ray_job_reads_and_writes_the_lake_on_s3(
    ray_head: str,
    ray_worker: str,
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
    # Customer i % 5 orders `i` at hour i of 2024.
    orders = pd.DataFrame(
        {
            "customer": [i % 5 for i in range(300)],
            "amount": range(300),
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(range(300), unit="h"),
        }
    )
    workbench.ingest.upload(orders, "sales.orders", by="ada")
    # Labels at hour 96.5: each known customer's latest order then, and one unknown customer.
    labels = pd.DataFrame(
        {
            "customer": [0, 1, 2, 3, 4, 9],
            "ts": [pd.Timestamp("2024-01-05 00:30")] * 6,
            "churned": [0, 1, 0, 1, 0, 1],
        }
    )
    workbench.ingest.upload(labels, "sales.labels", by="ada")
    workbench.features.apply(from_dict(FEATURES), by="ada")
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
        result = json.loads(log.split("RESULT ", 1)[1].splitlines()[0])

        # The work ran on the worker node, the driver elsewhere.
        assert result["node"] == ray_worker != result["driver"]
        assert (result["orders"], result["train"]) == (300, 6)
        assert result["train_amounts"] == {"0": 95, "1": 96, "2": 92, "3": 93, "4": 94, "9": None}
        totals = workbench.warehouse.read("totals", schema="sales").to_pandas()
        assert sorted(totals["amount"]) == sorted(orders.groupby("customer")["amount"].sum())
        versions = workbench.warehouse.snapshots("orders", schema="sales")
        assert [v.rows_inserted for v in versions] == [300, 10]
        assert versions[-1].author == "ada"
        assert workbench.warehouse.read("churn_train", schema="ml").num_rows == 6

        # Every version the job wrote is in the lake on S3 and readable through the server's
        # SQL, the earlier one too (time travel).
        def count(sql: str) -> int:
            response = api.post("/api/v1/sql", json={"sql": sql})
            assert response.status_code == 200, response.text
            return int(response.json()["rows"][0][0])

        # (Time travel takes the lake-wide snapshot id, the ``version`` an upload returns.)
        first, appended = versions[0].snapshot_id, versions[-1].snapshot_id
        assert result["versions"][2] == appended
        assert count("SELECT count(*) FROM sales.orders") == 310
        assert count(f"SELECT count(*) FROM sales.orders AT (VERSION => {first})") == 300
        assert count(f"SELECT count(*) FROM sales.orders AT (VERSION => {appended})") == 310
        saved = result["versions"][1]
        assert count(f"SELECT count(*) FROM ml.churn_train AT (VERSION => {saved})") == 6
        assert count("SELECT count(*) FROM ml.churn_train WHERE amount IS NULL") == 1
        keys = store.keys_under(store.url("lake", "sales"))
        assert any(k.startswith("ray/lake/sales/totals/") for k in keys)
        assert any(
            k.startswith("ray/lake/ml/churn_train/")
            for k in store.keys_under(store.url("lake", "ml"))
        )
        assert not list(root.rglob("*.parquet"))
        # The job's token ended with the job.
        assert all(not t.active for t in workbench.tokens.list("ada") if t.name.startswith("job "))

"""The feature store API: apply, views, training sets over Arrow IPC, online lookups, roles."""

from __future__ import annotations

import pyarrow as pa
import pytest

from atelier.services.workbench import Workbench
from tests.conftest import Accounts

ARROW = "application/vnd.apache.arrow.stream"
DEFINITIONS = {
    "entities": [{"name": "customer", "keys": ["cid"]}],
    "views": [
        {
            "name": "spend",
            "entity": "customer",
            "source": "s.tx",
            "timestamp": "ts",
            "ttl": "10d",
            "features": ["amount", {"name": "big", "sql": "amount > 100"}],
            "aggregations": [{"column": "amount", "functions": ["sum"], "windows": ["30d"]}],
        }
    ],
    "services": [{"name": "scoring", "features": ["spend:amount_sum_30d"]}],
}


@pytest.fixture
def tx(workbench: Workbench) -> None:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA s; CREATE TABLE s.tx AS SELECT * FROM (VALUES "
            "(1, TIMESTAMP_NS '2024-01-01 00:00:00.000000001', 50.0::DOUBLE), "
            "(1, TIMESTAMP_NS '2024-01-02', 150.0::DOUBLE)) t(cid, ts, amount);"
            "CREATE TABLE s.labels AS SELECT 1 AS cid, TIMESTAMP '2024-01-01 12:00' AS ts"
        ),
        author="admin1",
    )


def arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_apply_list_and_training_sets(client, accounts: Accounts, tx: None) -> None:  # type: ignore[no-untyped-def]
    sci = accounts.headers("scientist")
    body = {"definitions": DEFINITIONS, "project": "churn"}
    plan = client.post("/api/v1/features/apply", json=body, headers=sci).json()
    assert plan["applied"] is False and [c["action"] for c in plan["changes"]] == ["create"] * 3
    applied = client.post("/api/v1/features/apply", json=body | {"dry_run": False}, headers=sci)
    assert applied.status_code == 200 and applied.json()["applied"] is True
    views = client.get("/api/v1/features/views", headers=sci).json()
    assert [v["name"] for v in views] == ["spend"]
    detail = client.get("/api/v1/features/views/spend", headers=sci).json()
    assert detail["upstream"] == ["s.tx"] and detail["versions"][0]["version"] == 1
    assert client.get("/api/v1/features/views/nope", headers=sci).status_code == 404

    entities = pa.table(
        {
            "cid": [1, 1, 2],
            "event_timestamp": pa.array(
                [1704067200000000000, 1704067200000000001, 1704067200000000001],
                pa.timestamp("ns"),
            ),
        }
    )
    response = client.post(
        "/api/v1/features/training-set?features=spend:amount&features=spend:amount_sum_30d",
        content=arrow_bytes(entities),
        headers=sci | {"Content-Type": ARROW},
    )
    assert response.status_code == 200, response.text
    result = pa.ipc.open_stream(response.content).read_all()
    assert result.column("amount").to_pylist() == [None, 50.0, None]
    assert result.column("event_timestamp").equals(entities.column("event_timestamp"))
    assert response.headers["X-Atelier-Feature-Views"] == '{"spend": 1}'

    saved = client.post(
        "/api/v1/features/training-set",
        json={
            "entities": "s.labels",
            "features": ["spend:big"],
            "timestamp": "ts",
            "save_as": "ml.t",
        },
        headers=sci,
    ).json()
    assert saved["name"] == "ml.t" and saved["feature_views"] == {"spend": 1}
    sets = client.get("/api/v1/features/training-sets", headers=sci).json()
    assert sets[0]["name"] == "ml.t"

    # Removing a feature the training set uses is refused, naming it.
    smaller = {**DEFINITIONS, "views": [{**DEFINITIONS["views"][0], "features": ["amount"]}]}
    refused = client.post(
        "/api/v1/features/apply",
        json={"definitions": smaller, "project": "churn", "dry_run": False},
        headers=sci,
    )
    assert refused.status_code == 409 and "spend:big" in refused.json()["detail"]


def test_online_and_errors(client, accounts: Accounts, tx: None, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    sci = accounts.headers("scientist")
    client.post(
        "/api/v1/features/apply",
        json={"definitions": DEFINITIONS, "project": "churn", "dry_run": False},
        headers=sci,
    )
    done = client.post("/api/v1/features/materialize", json={}, headers=sci).json()
    assert done[0]["view"] == "spend" and done[0]["mode"] == "full"
    rows = client.post(
        "/api/v1/features/online",
        json={"keys": {"cid": [1, 7]}, "features": "scoring"},
        headers=sci,
    ).json()["rows"]
    assert rows == [{"cid": 1, "amount_sum_30d": None}, {"cid": 7, "amount_sum_30d": None}]
    bad = client.post(
        "/api/v1/features/training-set", content=b"not arrow", headers=sci | {"Content-Type": ARROW}
    )
    assert bad.status_code == 422 and "Arrow" in bad.json()["detail"]
    python = {
        "views": [
            {
                **DEFINITIONS["views"][0],
                "features": [{"name": "x", "python": "def f(a): return a", "inputs": ["amount"]}],
            }
        ]
    }
    refused = client.post("/api/v1/features/apply", json={"definitions": python}, headers=sci)
    assert refused.status_code == 422 and "features.py" in refused.json()["detail"]
    viewer = client.get("/api/v1/features/views", headers=accounts.headers("viewer"))
    assert viewer.status_code == 403

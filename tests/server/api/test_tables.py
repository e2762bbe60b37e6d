"""The tables endpoints: catalog, describe, annotations, versions, profiles; roles enforced."""

from __future__ import annotations

import pytest

from atelier.services.workbench import Workbench
from tests.conftest import Accounts


@pytest.fixture
def orders(workbench: Workbench) -> str:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA sales; CREATE TABLE sales.orders AS "
            "SELECT i AS order_id, i % 3 AS region FROM range(12) r(i)"
        ),
        author="admin1",
        message="first load",
    )
    return "sales.orders"


def test_catalog_describe_and_search(client, accounts: Accounts, orders: str) -> None:  # type: ignore[no-untyped-def]
    sci = accounts.headers("scientist")
    listed = client.get("/api/v1/tables", headers=sci).json()
    assert [t["name"] for t in listed] == [orders]
    assert listed[0]["rows"] == 12 and listed[0]["owner"] == "admin1"
    assert client.get("/api/v1/tables?search=region", headers=sci).json()[0]["name"] == orders
    assert client.get("/api/v1/tables?search=nothing-like-it", headers=sci).json() == []

    detail = client.get(f"/api/v1/tables/{orders}", headers=sci).json()
    assert [c["name"] for c in detail["columns"]] == ["order_id", "region"]
    assert detail["sample"]["rows"][:2] == [[0, 0], [1, 1]]
    assert detail["versions"][0]["author"] == "admin1"
    assert detail["versions"][0]["rows_inserted"] == 12

    versions = client.get(f"/api/v1/tables/{orders}/versions", headers=sci).json()
    assert [v["message"] for v in versions] == ["first load"]


def test_annotations(client, accounts: Accounts, orders: str, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    sci = accounts.headers("scientist")
    changed = client.patch(
        f"/api/v1/tables/{orders}",
        headers=sci,
        json={"description": "Orders by region", "tags": ["finance", "gold"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["tags"] == ["finance", "gold"]
    assert client.get("/api/v1/tables?search=gold", headers=sci).json()[0]["name"] == orders
    audit = workbench.audit.entries(action="table.update")[0]
    assert (audit.actor, audit.target) == ("scientist1", orders)

    bad = client.patch(f"/api/v1/tables/{orders}", headers=sci, json={"tags": ["a,b"]})
    assert bad.status_code == 422 and "no commas" in bad.json()["detail"]
    extra = client.patch(f"/api/v1/tables/{orders}", headers=sci, json={"owner": "me"})
    assert extra.status_code == 422
    missing = client.patch("/api/v1/tables/sales.nope", headers=sci, json={"tags": ["x"]})
    assert missing.status_code == 404


def test_profile(client, accounts: Accounts, orders: str) -> None:  # type: ignore[no-untyped-def]
    sci = accounts.headers("scientist")
    profile = client.get(f"/api/v1/tables/{orders}/profile", headers=sci).json()
    region = next(c for c in profile["columns"] if c["name"] == "region")
    assert profile["rows"] == 12 and region["distinct"] == 3
    assert region["top_values"] == [
        {"value": 0, "count": 4},
        {"value": 1, "count": 4},
        {"value": 2, "count": 4},
    ]
    assert [b["count"] for b in region["histogram"]] == [4, 4, 4]
    at = client.get(f"/api/v1/tables/{orders}/profile?version=1", headers=sci).json()
    assert at["version"] == 1 and at["rows"] == 12
    bad = client.get(f"/api/v1/tables/{orders}/profile?version=99", headers=sci)
    assert bad.status_code == 422


def test_viewers_see_no_tables(client, accounts: Accounts, orders: str) -> None:  # type: ignore[no-untyped-def]
    viewer = accounts.headers("viewer")
    for path in ("/api/v1/tables", f"/api/v1/tables/{orders}", f"/api/v1/tables/{orders}/profile"):
        assert client.get(path, headers=viewer).status_code == 403
    assert client.patch(f"/api/v1/tables/{orders}", headers=viewer, json={}).status_code == 403


def test_openapi_shows_the_data_shapes(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json", headers=accounts.headers("scientist")).json()

    def answer(path: str, method: str = "get") -> str:
        content = doc["paths"][path][method]["responses"]
        ok = content.get("200") or content["201"]
        return str(ok["content"]["application/json"]["schema"])

    assert "TableDetail" in answer("/api/v1/tables/{name}")
    assert "TableEntry" in answer("/api/v1/tables")
    assert "TableProfile" in answer("/api/v1/tables/{name}/profile")
    assert "UploadResult" in answer("/api/v1/uploads", "post")
    assert "SourceInfo" in answer("/api/v1/sources")
    assert "ApplyPlan" in answer("/api/v1/features/apply", "post")
    assert "QueryInfo" in answer("/api/v1/sql/history")
    # A source's secrets go in, never come out.
    assert "secrets" in doc["components"]["schemas"]["NewSource"]["properties"]
    assert "secrets" not in doc["components"]["schemas"]["SourceInfo"]["properties"]

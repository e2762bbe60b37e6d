"""The sources endpoints: admins add and remove, scientists list; secrets never come back,
not in responses, errors or the audit log."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from atelier.services.workbench import Workbench
from tests.conftest import Accounts
from tests.services.catalog.servers import mysql_table

PASSWORD = "Sup3r-Secret-Pa55"


def sqlite_db(tmp_path: Path) -> str:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER, total REAL)")
        db.execute("INSERT INTO orders VALUES (1, 9.5)")
    return str(path)


def test_admin_adds_lists_and_removes(client, accounts: Accounts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    admin, sci = accounts.headers("admin"), accounts.headers("scientist")
    body = {"name": "legacy", "type": "sqlite", "options": {"path": sqlite_db(tmp_path)}}
    refused = client.post("/api/v1/sources", headers=sci, json=body)
    assert refused.status_code == 403

    made = client.post("/api/v1/sources", headers=admin, json={**body, "description": "old"})
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "admin1" and made.json()["has_password"] is False
    assert [s["name"] for s in client.get("/api/v1/sources", headers=sci).json()] == ["legacy"]
    assert client.get("/api/v1/sources/legacy", headers=sci).json()["description"] == "old"
    tables = client.get("/api/v1/sources/legacy/tables", headers=sci).json()
    assert [t["name"] for t in tables] == ["legacy.main.orders"]
    listed = client.get("/api/v1/tables?search=legacy", headers=sci).json()
    assert [t["kind"] for t in listed] == ["source"]

    assert client.post("/api/v1/sources", headers=admin, json=body).status_code == 409
    assert client.delete("/api/v1/sources/legacy", headers=sci).status_code == 403
    assert client.delete("/api/v1/sources/legacy", headers=admin).status_code == 204
    assert client.delete("/api/v1/sources/legacy", headers=admin).status_code == 404
    assert client.get("/api/v1/sources", headers=sci).json() == []


def test_secrets_never_come_back(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    admin = accounts.headers("admin")
    with mysql_table(workbench.warehouse.extension_directory) as (options, _):
        wrong = client.post(
            "/api/v1/sources",
            headers=admin,
            json={
                "name": "shop",
                "type": "mysql",
                "options": {**options, "user": "atelier_nobody"},
                "secrets": {"password": PASSWORD},
            },
        )
        assert wrong.status_code == 400
        assert "could not connect" in wrong.json()["detail"]
        assert PASSWORD not in wrong.text
        ok = client.post(
            "/api/v1/sources",
            headers=admin,
            json={"name": "shop", "type": "mysql", "options": options, "secrets": {}},
        )
        assert ok.status_code == 201, ok.text
    misplaced = client.post(
        "/api/v1/sources",
        headers=admin,
        json={"name": "x", "type": "postgres", "options": {"host": "h", "password": PASSWORD}},
    )
    assert misplaced.status_code == 422 and PASSWORD not in misplaced.text
    audit = json.dumps([e.as_dict() for e in workbench.audit.entries(action="source.add")])
    assert PASSWORD not in audit
    actions = [(e.success, e.target) for e in workbench.audit.entries(action="source.add")]
    assert actions[:3] == [(False, "x"), (True, "shop"), (False, "shop")]
    assert PASSWORD not in client.get("/api/v1/sources", headers=admin).text

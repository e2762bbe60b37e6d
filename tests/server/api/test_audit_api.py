"""``GET /api/v1/audit`` with filters, and the raw reads of personal data over HTTP: SQL sent to
``POST /api/v1/sql`` that reads a tagged column raw is one ``pii.raw_read`` entry; admins
filter them by user, table, kind and dates; nobody else reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from atelier.services.auth import Principal
from atelier.services.pii.grants import grants_of
from atelier.services.workbench import Workbench
from tests.conftest import Accounts


@pytest.fixture
def bank(workbench: Workbench, accounts: Accounts) -> Workbench:
    wb = workbench
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            "(1, 'ann@example.com', '+44 20 7946 0958'), (2, 'bob@example.org', '+49 30 901820')) "
            "t(id, email, phone)"
        ),
        author="admin1",
    )
    admin = wb.users.get("admin1")
    ada = Principal(admin.id, "admin1", "admin", "token")
    wb.pii_tags.confirm(ada, "bank.customers", "email", "email")
    wb.pii_tags.confirm(ada, "bank.customers", "phone", "phone")
    grants_of(wb).grant(ada, "scientist1", kind="email", reason="case 42", days=1, export=True)
    return wb


def _sql(client: Any, headers: dict[str, str], sql: str) -> dict[str, Any]:
    response = client.post("/api/v1/sql", json={"sql": sql}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_raw_reads_over_http_are_audited_and_filtered(
    client: Any, accounts: Accounts, bank: Workbench
) -> None:
    admin, scientist = accounts.headers("admin"), accounts.headers("scientist")
    masked = _sql(client, admin, "SELECT email FROM bank.customers")  # admins need a grant too
    assert "ann@example.com" not in str(masked["rows"])
    _sql(client, scientist, "SELECT phone FROM bank.customers")  # not granted: masked
    raw = _sql(client, scientist, "SELECT c.email FROM bank.customers c WHERE id = 1")
    assert raw["rows"] == [["ann@example.com"]]

    def audit(query: str, headers: dict[str, str] = admin) -> Any:
        return client.get(f"/api/v1/audit?{query}", headers=headers)

    found = audit("action=pii.raw_read")
    assert found.status_code == 200, found.text
    (entry,) = found.json()
    assert entry["action"] == "pii.raw_read" and entry["actor"] == "scientist1"
    assert entry["target"] == "bank.customers"
    detail = entry["detail"]
    assert detail["rows"] == 1 and detail["query_id"] == raw["query_id"]
    assert detail["columns"] == {"bank.customers": {"email": ["email"]}}
    assert detail["from"] == "api" and detail["remote"] is True
    assert "ann@example.com" not in found.text  # never a value

    for query, count in (
        ("action=pii.raw_read&user=scientist1&table=bank.customers", 1),
        ("user=scientist1&table=customers", 1),  # table implies raw reads
        ("kind=email", 1),
        ("kind=phone", 0),
        ("action=pii.raw_read&user=admin1", 0),
        ("table=bank.orders", 0),
    ):
        response = audit(query)
        assert response.status_code == 200, (query, response.text)
        assert len(response.json()) == count, query

    # The date range, and the user filter of the whole log.
    now = datetime.now(UTC)
    since = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    later = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert len(audit(f"action=pii.raw_read&since={since}&until={later}").json()) == 1
    assert audit(f"action=pii.raw_read&since={later}").json() == []
    day = datetime.fromisoformat(entry["at"]).date()  # days: from midnight UTC
    today, tomorrow = day, day + timedelta(days=1)
    assert len(audit(f"table=bank.customers&since={today}&until={tomorrow}").json()) == 1
    grants = audit("user=admin1&action=pii.grant").json()
    assert [e["action"] for e in grants] == ["pii.grant"]
    assert all(e["actor"] == "scientist1" for e in audit("user=scientist1").json())

    # Bad filters: one clear line each.
    for query, message in (
        ("kind=shoe_size", "not a kind of personal data"),
        ("action=user.create&table=bank.customers", "filter the raw reads"),
        (f"since={later}&until={since}", "date range is empty"),
        (f"action=pii.raw_read&since={later}&until={since}", "date range is empty"),
    ):
        response = audit(query)
        assert response.status_code == 422, (query, response.text)
        assert message in response.json()["detail"], query
    assert audit("since=yesterday").status_code == 422

    # Admins only: a scientist, a viewer and a code token are refused.
    assert audit("action=pii.raw_read", scientist).status_code == 403
    assert audit("action=pii.raw_read", accounts.headers("viewer")).status_code == 403
    assert client.get("/api/v1/audit?action=pii.raw_read").status_code == 401

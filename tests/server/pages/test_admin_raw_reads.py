"""The portal's list of raw reads of personal data (``/admin/audit/raw-reads``): admins see
who read what raw, filtered by user, table, kind and days; nobody else sees the page."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

from atelier.services.auth import Principal
from atelier.services.pii.grants import grants_of
from atelier.services.workbench import Workbench
from tests.conftest import Accounts


def _principal(wb: Workbench, name: str, via: str = "token") -> Principal:
    user = wb.users.get(name)
    return Principal(user.id, user.name, user.role, via)  # type: ignore[arg-type]


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-raw-read="\d+">(.*?)</tr>', html, re.S)


def test_admins_list_and_filter_raw_reads(
    client: Any, accounts: Accounts, workbench: Workbench
) -> None:
    wb = workbench
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            "(1, 'ann@example.com', '+44 20 7946 0958')) t(id, email, phone); "
            "CREATE TABLE bank.notes AS SELECT 1 AS id, 'Ann called' AS memo"
        ),
        author="admin1",
    )
    admin = _principal(wb, "admin1")
    wb.pii_tags.confirm(admin, "bank.customers", "email", "email")
    wb.pii_tags.confirm(admin, "bank.customers", "phone", "phone")
    wb.pii_tags.mark(admin, "bank.notes", personal=True)
    grants_of(wb).grant(admin, "scientist1", kind="email", reason="case 42", days=1)
    grants_of(wb).grant(admin, "admin1", table="bank.notes", reason="audit", days=1)
    portal = _principal(wb, "scientist1", "session")
    for who, sql in (
        (portal, "SELECT email FROM bank.customers"),
        (portal, "SELECT phone FROM bank.customers"),  # masked: not listed
        (admin, "SELECT memo FROM bank.notes"),
    ):
        with wb.query.run(sql, principal=who, remote=False) as result:
            result.to_arrow()

    def page(query: str = "", role: str = "admin") -> Any:
        return client.get(f"/admin/audit/raw-reads?{query}", headers=accounts.headers(role))

    shown = page()
    assert shown.status_code == 200, shown.text
    rows = _rows(shown.text)
    assert len(rows) == 2
    assert "admin1" in rows[0] and "bank.notes" in rows[0] and "personal (memo)" in rows[0]
    assert "scientist1" in rows[1] and "email (email)" in rows[1]
    assert "portal (on the server)" in rows[1]
    assert "ann@example.com" not in shown.text and "Ann called" not in shown.text
    assert 'href="/admin/audit/raw-reads" aria-current="page"' in shown.text

    days = sorted(e.at.astimezone(UTC).date() for e in wb.audit.entries(action="pii.raw_read"))
    first, last = days[0], days[-1]
    for query, count in (
        ("user=scientist1", 1),
        ("table=bank.notes", 1),
        ("table=customers&kind=email", 1),
        ("kind=phone", 0),
        (f"since={first}&until={last}", 2),  # both days included
        (f"since={last + timedelta(days=1)}", 0),
        (f"until={first - timedelta(days=1)}", 0),
    ):
        response = page(query)
        assert response.status_code == 200, query
        assert len(_rows(response.text)) == count, query
    assert "No raw reads match these filters." in page("user=nobody").text

    bad = page("since=last+week")
    assert bad.status_code == 422
    assert "since: &#39;last week&#39; is not a day (YYYY-MM-DD)" in bad.text
    assert page("kind=shoe_size").status_code == 422

    # Admins only.
    assert page(role="scientist").status_code == 403
    assert page(role="viewer").status_code == 403
    assert client.get("/admin/audit/raw-reads", follow_redirects=False).status_code in (
        302,
        303,
        401,
    )

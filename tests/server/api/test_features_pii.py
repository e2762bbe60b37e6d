"""Online lookups over the API are masked per caller: the same rules and grants as their SQL,
and results leaving the server need an export grant."""

from __future__ import annotations

import pyarrow as pa

from atelier.services.auth import Principal
from atelier.services.features import Definitions, Derived, Entity, FeatureView
from atelier.services.pii.grants import grants_of
from atelier.services.pii.policies import policies_of
from atelier.services.workbench import Workbench
from tests.conftest import Accounts

ARROW = "application/vnd.apache.arrow.stream"
EMAILS = ["ann@example.com", "bob@example.org"]


def test_online_lookups_over_the_api_are_masked_per_caller(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    wb = workbench
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.signups AS SELECT * FROM (VALUES "
            f"(1, '{EMAILS[0]}', TIMESTAMP '2024-01-01'), "
            f"(2, '{EMAILS[1]}', TIMESTAMP '2024-01-02')) t(id, email, signed)"
        ),
        author="admin1",
    )
    user = wb.users.get("admin1")
    admin = Principal(user.id, user.name, user.role, "token")  # type: ignore[arg-type]
    wb.pii_tags.confirm(admin, "bank.signups", "email", "email")
    customer = Entity("customer", ["id"])
    view = FeatureView(
        "contact",
        customer,
        "signed",
        source="bank.signups",
        features=[Derived("domain", sql="split_part(email, '@', 2)"), "email"],
    )
    wb.features.apply(Definitions(entities=[customer], views=[view]), project="p", by="admin1")
    wb.features.materialize(["contact"])
    masker = policies_of(wb).masker()
    body = {"keys": {"id": [1, 2]}, "features": ["contact:email", "contact:domain"]}

    def lookup(role: str, arrow: bool = False) -> dict[str, list[object]]:
        headers = accounts.headers(role) | ({"Accept": ARROW} if arrow else {})
        response = client.post("/api/v1/features/online", json=body, headers=headers)
        assert response.status_code == 200, response.text
        if arrow:
            table = pa.ipc.open_stream(response.content).read_all()
            return {c: table.column(c).to_pylist() for c in ("email", "domain")}
        rows = response.json()["rows"]
        return {c: [r[c] for r in rows] for c in ("email", "domain")}

    masked = {
        "email": [masker.mask("email", e) for e in EMAILS],
        "domain": [masker.mask("email", e.split("@")[1]) for e in EMAILS],
    }
    assert lookup("scientist") == masked
    assert lookup("scientist", arrow=True) == masked
    assert lookup("admin") == masked  # admins are not exempt
    assert (
        client.post(
            "/api/v1/features/online", json=body, headers=accounts.headers("viewer")
        ).status_code
        == 403
    )
    # A raw grant alone stays on the server: the API answers a remote caller.
    grants = grants_of(wb)
    grants.grant(admin, "scientist1", table="bank.signups", reason="case 12", days=1)
    assert lookup("scientist") == masked
    grants.grant(admin, "scientist1", table="bank.signups", reason="case 12", days=1, export=True)
    assert lookup("scientist") == {"email": EMAILS, "domain": ["example.com", "example.org"]}
    assert lookup("admin") == masked
    # The view's page marks the features computed from personal data.
    page = client.get("/features/contact", headers=accounts.headers("scientist")).text
    assert page.count('data-testid="feature-pii"') == 2 and "personal data: email" in page
    assert "bank.signups.email" in page

"""``/api/v1/tables/{name}/pii``: tags read by scientists, changed only by the table's owner
and admins (checked before any change, audited); code tokens need the ``data`` scope."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, Accounts

N = 120
PEOPLE = pa.table(
    {
        "id": list(range(N)),
        "email": [f"client{i}@example.com" for i in range(N)],
        "iban": ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
        * (N // 3),
        "plan": ["basic", "plus", "pro"] * (N // 3),
    }
)


def test_tags_over_the_api(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    owner = Principal(2, "scientist1", "scientist", "token")
    workbench.ingest.upload(PEOPLE, "crm.people", principal=owner, client="sdk")
    sci, admin, viewer = (accounts.headers(r) for r in ("scientist", "admin", "viewer"))
    workbench.users.create("sid", "scientist", PASSWORD)
    sid = {"Authorization": f"Bearer {workbench.tokens.create('sid', 'test', 1)[1]}"}
    reader = workbench.tokens.create_for(
        "scientist1", "job 7", frozenset({"data:read"}), timedelta(hours=1)
    )[1]
    job = {"Authorization": f"Bearer {reader}"}
    url = "/api/v1/tables/crm.people/pii"

    got = client.get(url, headers=sci).json()
    assert {c["column"]: (c["kind"], c["state"]) for c in got["columns"]} == {
        "email": ("email", "suggested"),
        "iban": ("iban", "suggested"),
    }
    assert client.get(url, headers=job).status_code == 200
    detail = client.get("/api/v1/tables/crm.people", headers=sci).json()
    assert {c["column"] for c in detail["pii"]["columns"]} == {"email", "iban"}

    # Attacks: each refused, nothing changed, nothing audited.
    refused = [
        client.delete(f"{url}/email", headers=sid),  # another scientist's table
        client.put(f"{url}/plan", headers=sid, json={"kind": "email"}),
        client.patch(url, headers=sid, json={"personal": True}),
        client.post(f"{url}/classify", headers=sid),
        client.put(f"{url}/email", headers=viewer, json={"kind": "email"}),
        client.get(url, headers=viewer),
        client.put(f"{url}/email", headers=job, json={"kind": "email"}),  # data:read only
        client.delete(f"{url}/email", headers=job),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused]
    assert "only its owner (scientist1) and admins" in refused[0].json()["detail"]
    bad = [
        client.put(f"{url}/nope", headers=sci, json={"kind": "email"}),
        client.put(f"{url}/email", headers=sci, json={"kind": "laser"}),
        client.put(f"{url}/email", headers=sci, json={"kind": "email", "by": "ada"}),
        client.get('/api/v1/tables/crm.people" ; DROP TABLE crm.people; --/pii', headers=sci),
        client.delete(f"{url}/plan", headers=sci),
    ]
    assert [r.status_code for r in bad] == [404, 422, 422, 404, 404], [r.text for r in bad]
    assert "has no column 'nope'" in bad[0].json()["detail"]
    assert client.get(url, headers=sci).json() == got
    assert workbench.audit.entries(action="pii.remove") == []

    confirmed = client.put(f"{url}/email", headers=sci, json={"kind": "email"})
    assert confirmed.status_code == 200, confirmed.text
    changed = client.put(f"{url}/plan", headers=admin, json={"kind": "free_text_with_pii"})
    removed = client.delete(f"{url}/iban", headers=sci)
    marked = client.patch(url, headers=admin, json={"personal": True})
    again = client.post(f"{url}/classify", headers=sci)
    assert [r.status_code for r in (changed, removed, marked, again)] == [200] * 4
    final = again.json()
    assert final["personal"] and final["marked_by"] == "admin1"
    assert {c["column"]: (c["kind"], c["state"], c["decided_by"]) for c in final["columns"]} == {
        "email": ("email", "confirmed", "scientist1"),
        "plan": ("free_text_with_pii", "confirmed", "admin1"),
    }
    trail = [(e.action, e.actor, e.target) for e in workbench.audit.entries(limit=20)]
    assert [t for t in trail if t[0].startswith("pii.")][::-1] == [
        ("pii.confirm", "scientist1", "crm.people"),
        ("pii.confirm", "admin1", "crm.people"),
        ("pii.remove", "scientist1", "crm.people"),
        ("pii.mark", "admin1", "crm.people"),
        ("pii.classify", "scientist1", "crm.people"),
    ]

    # The table's page shows a badge per tagged column, and the whole-table mark.
    page = client.get("/data/tables/crm.people", headers={**sci, "Accept": "text/html"})
    assert page.status_code == 200
    assert 'data-testid="pii-email"' in page.text and "confirmed by scientist1" in page.text
    assert 'data-testid="pii-iban"' not in page.text
    assert 'data-testid="personal-table"' in page.text

"""The feature pages: the list with search, a view with statistics and lineage."""

from __future__ import annotations

from tests.conftest import Accounts
from tests.server.api.test_features import DEFINITIONS, tx

__all__ = ["tx"]


def test_pages(client, accounts: Accounts, tx: None) -> None:  # type: ignore[no-untyped-def]
    sci = accounts.headers("scientist")
    client.post(
        "/api/v1/features/apply",
        json={"definitions": DEFINITIONS, "project": "churn", "dry_run": False},
        headers=sci,
    )
    page = client.get("/features", headers=sci)
    assert page.status_code == 200 and 'data-view="spend"' in page.text and "scoring" in page.text
    assert (
        "spend" in client.get("/features?search=amount", headers=sci | {"HX-Request": "true"}).text
    )
    assert "No feature view matches" in client.get("/features?search=zzz", headers=sci).text
    detail = client.get("/features/spend", headers=sci)
    assert detail.status_code == 200 and "spend:amount_sum_30d" in detail.text
    refreshed = client.post("/features/spend/statistics", headers=sci)
    assert refreshed.status_code == 200 and "2 rows for 1 entities" in refreshed.text
    assert client.get("/features/nope", headers=sci).status_code == 404
    assert 'href="/data/tables/s.tx"' in detail.text

    # The data catalog lists the view beside the table it reads, and the table page links it.
    catalog = client.get("/data", headers=sci).text
    row = catalog.split('data-table="spend"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/features/spend"' in row and "feature view" in row and "reads s.tx" in row
    table = client.get("/data/tables/s.tx", headers=sci).text
    assert 'data-testid="feature-views"' in table and 'href="/features/spend"' in table

"""The feature pages in a real browser: log in by link, open Features, open a view, compute its
statistics (HTMX form with CSRF), follow its lineage to the source table and back."""

import pytest

from atelier.services.features import Aggregation, Definitions, Entity, FeatureView

pytestmark = pytest.mark.browser


def test_feature_view_statistics_and_lineage(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.tx AS SELECT i % 5 AS cid, "
            "TIMESTAMP '2024-01-01' + INTERVAL (i) HOUR AS ts, (i * 1.5)::DOUBLE AS amount "
            "FROM range(40) r(i)"
        ),
        author="ada",
    )
    customer = Entity("customer", ["cid"])
    spend = FeatureView(
        "spend",
        customer,
        "ts",
        source="bank.tx",
        ttl="1d",
        features=["amount"],
        aggregations=[Aggregation("amount", ["avg"], ["7d"])],
        description="What a customer spends",
    )
    workbench.features.apply(Definitions([customer], [spend], project="bank"), by="ada")

    page.goto(server.login_link)
    page.click("header nav >> text=Features")
    page.wait_for_url(f"{server.url}/features")
    assert "What a customer spends" in page.locator("[data-view=spend]").inner_text()
    page.click("[data-view=spend] >> text=spend")
    page.wait_for_url(f"{server.url}/features/spend")
    assert page.locator("[data-feature=amount_avg_7d]").count() == 1
    assert "No statistics yet" in page.locator("#content").inner_text()

    page.click("text=Compute statistics")
    page.wait_for_selector("text=40 rows for 5 entities")
    # Type, nulls, distinct (approximate), min, mean, max of 0, 1.5, ..., 58.5.
    kind, nulls, _, low, mean, high = (
        page.locator("[data-feature=amount]").inner_text().split()[-6:]
    )
    assert (kind, nulls, low, mean, high) == ("DOUBLE", "0", "0.0", "29.25", "58.5")

    page.click("[data-testid=upstream] >> text=bank.tx")
    page.wait_for_url(f"{server.url}/data/tables/bank.tx")
    assert page.locator("h1").inner_text() == "bank.tx"
    page.click("[data-testid=feature-views] >> text=spend")
    page.wait_for_url(f"{server.url}/features/spend")

    page.click("header nav >> text=Data")
    row = page.locator("[data-table=spend]")
    assert "feature view" in row.inner_text() and "reads bank.tx" in row.inner_text()
    assert "newest event 2024-01-02 15:00:00" in row.inner_text()

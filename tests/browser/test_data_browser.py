"""The data pages in a real browser: log in by link, search the catalog, open a table, edit
its tags (HTMX form with CSRF), open its profile."""

import pytest

pytestmark = pytest.mark.browser


def test_catalog_table_tags_profile(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA sales; CREATE TABLE sales.orders AS "
            "SELECT i AS order_id, ['north', 'south'][i % 2 + 1] AS region FROM range(50) r(i);"
            "CREATE TABLE sales.refunds AS SELECT 1 AS refund_id"
        ),
        author="ada",
    )
    page.goto(server.login_link)
    page.click("header nav >> text=Data")
    page.wait_for_url(f"{server.url}/data")
    catalog = page.get_by_test_id("catalog")
    assert "sales.orders" in catalog.inner_text() and "sales.refunds" in catalog.inner_text()

    page.fill("input[name=search]", "refund")
    # Not wait_for_function: the portal's CSP forbids the eval it polls with.
    page.wait_for_selector("[data-table='sales.orders']", state="detached")
    assert "sales.refunds" in page.get_by_test_id("catalog").inner_text()
    page.fill("input[name=search]", "region")
    page.wait_for_selector("[data-table='sales.orders']")
    page.click("text=sales.orders")
    page.wait_for_url(f"{server.url}/data/tables/sales.orders")
    assert page.locator("h1").inner_text() == "sales.orders"
    assert "ada" in page.get_by_test_id("versions").inner_text()
    assert "north" in page.get_by_test_id("sample").inner_text()

    page.fill("input[name=tags]", "finance, gold")
    page.fill("textarea[name=description]", "Orders by region")
    page.click("#annotations button[type=submit]")
    page.wait_for_selector("#annotations .notice")
    assert page.get_by_test_id("tags").inner_text().split() == ["finance", "gold"]
    assert workbench.catalog.describe("sales.orders").entry.tags == ("finance", "gold")

    page.click("text=Profile")
    page.wait_for_url(f"{server.url}/data/tables/sales.orders/profile")
    region = page.locator("[data-column=region]")
    assert "north" in region.inner_text() and region.locator("svg rect").count() == 2
    assert page.locator("[data-column=order_id] svg.hist-linear rect").count() == 20

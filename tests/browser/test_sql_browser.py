"""The SQL page in a real browser: run a query over the demo bank, see the grid and the chart
drawn by the vendored vega-embed, the history entry, and re-fill the editor from it."""

import pytest

from atelier.services.demo.load import load_demo

pytestmark = pytest.mark.browser

SQL = "SELECT segment, count(*) AS customers FROM bank.customers GROUP BY ALL ORDER BY 1"


def test_run_query_grid_chart_history(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    load_demo(workbench.warehouse, scale=0.01, author="demo")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(server.login_link)
    page.goto(f"{server.url}/data/sql")
    page.get_by_test_id("sql-editor").fill(SQL)
    page.click("#sql-run")

    grid = page.get_by_test_id("sql-grid")
    grid.wait_for()
    segments = workbench.query.run(SQL, user="check").to_arrow().column("segment").to_pylist()
    assert grid.locator("tbody tr").count() == len(segments) > 1
    assert grid.locator("tbody tr").first.locator("td").first.inner_text() == segments[0]
    assert page.get_by_test_id("sql-row-count").inner_text() == str(len(segments))

    chart = page.locator("#sql-chart svg")
    chart.wait_for()
    assert page.locator("#sql-chart svg .mark-rect path").count() == len(segments)
    page.select_option("select[name=chart-mark]", "point")
    page.locator("#sql-chart svg .mark-symbol path").first.wait_for()

    entry = page.get_by_test_id("sql-history").locator("button").first
    assert entry.locator("code").inner_text() == SQL
    assert "ok" in entry.inner_text()
    page.get_by_test_id("sql-editor").fill("")
    entry.click()
    assert page.get_by_test_id("sql-editor").input_value() == SQL

    page.get_by_test_id("sql-editor").fill("SELECT * FROM read_csv('/etc/passwd')")
    page.keyboard.press("Control+Enter")
    assert "not available in user SQL" in page.get_by_test_id("sql-error").inner_text()
    assert errors == []


def test_downloads_are_masked_without_an_export_grant(portal, page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import csv

    import pyarrow.parquet as pq

    from atelier.services.auth import Principal
    from atelier.services.pii.grants import grants_of

    server, workbench = portal
    emails = ["ann@example.com", "bob@example.org"]
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
            f"(1, '{emails[0]}'), (2, '{emails[1]}')) t(id, email)"
        ),
        author="demo",
    )
    admin = next(u for u in workbench.users.list() if u.role == "admin")
    me = Principal(admin.id, admin.name, "admin", "token")
    workbench.pii_tags.confirm(me, "bank.customers", "email", "email")
    grants_of(workbench).grant(me, admin.name, table="bank.customers", reason="check", days=1)

    page.goto(server.login_link)
    page.goto(f"{server.url}/data/sql")
    page.get_by_test_id("sql-editor").fill("SELECT id, email FROM bank.customers ORDER BY id")
    page.click("#sql-run")
    grid = page.get_by_test_id("sql-grid")
    grid.wait_for()
    assert emails[0] in grid.inner_text()  # shown on the server's page: the raw grant is enough

    with page.expect_download() as csv_download:
        page.get_by_test_id("sql-download-csv").click()
    saved = tmp_path / "result.csv"
    csv_download.value.save_as(saved)
    assert csv_download.value.suggested_filename.endswith(".csv")
    with saved.open(newline="") as handle:
        got = [row["email"] for row in csv.DictReader(handle)]
    assert len(got) == 2 and not any(e in got for e in emails)  # a file leaves: no export grant

    with page.expect_download() as parquet_download:
        page.get_by_test_id("sql-download-parquet").click()
    saved = tmp_path / "result.parquet"
    parquet_download.value.save_as(saved)
    got = pq.read_table(saved).column("email").to_pylist()
    assert len(got) == 2 and not any(e in got for e in emails)

    # A statement refused before the file starts: the page again, with the error.
    page.get_by_test_id("sql-editor").fill("SELECT * FROM read_csv('/etc/passwd')")
    page.get_by_test_id("sql-download-csv").click()
    assert "not available in user SQL" in page.get_by_test_id("sql-error").inner_text()
    assert "read_csv" in page.get_by_test_id("sql-editor").input_value()

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

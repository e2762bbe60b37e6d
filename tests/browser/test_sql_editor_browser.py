"""The SQL editor in a real browser: CodeMirror highlights and completes tables and columns
from the catalog, the schema browser inserts names, a query is saved and opened again after
a reload; the layout at a wide and a narrow window."""

import os
import re

import pytest

from atelier.backends.metadata.models import SavedQuery

pytestmark = pytest.mark.browser

#: Screenshots for a person to look at (not compared): ATELIER_SCREENSHOTS=/tmp/shots.
SHOTS = os.environ.get("ATELIER_SCREENSHOTS")


def test_complete_browse_save_and_reopen(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT range AS customer_id, "
            "['retail', 'business'][range % 2 + 1] AS segment FROM range(10);"
            "CREATE TABLE bank.accounts (account_id INTEGER, balance DOUBLE)"
        ),
        author="demo",
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(server.login_link)
    page.goto(f"{server.url}/data/sql")

    # The schema browser lists schemas, tables and typed columns from the catalog.
    tree = page.get_by_test_id("sql-schema-tree")
    tree.locator("summary", has_text="customers").first.wait_for()
    assert tree.locator("summary", has_text="bank").first.is_visible()
    # A table's name is inserted from its open list (its summary only folds: no nested controls).
    assert tree.locator("summary button").count() == 0
    code = page.locator("[data-testid=sql-code] .cm-content")
    assert code.is_visible()

    # Completion: a table after its schema, a column after its table.
    code.click()
    page.keyboard.type("SELECT * FROM bank.cu")
    options = page.locator(".cm-tooltip-autocomplete li")
    options.filter(has_text="customers").first.wait_for()
    # Icons are plain letters (the bundle's symbols render as empty boxes without their font).
    icons = page.locator(".cm-tooltip-autocomplete .cm-completionIcon").evaluate_all(
        "(nodes) => nodes.map((n) => getComputedStyle(n, '::after').content)"
    )
    assert icons and all(re.fullmatch(r'"[A-Za-z]+"', icon) for icon in icons), icons
    # CodeMirror ignores keys for its first 75 ms on a list it has just shown: Enter then
    # breaks the line instead of accepting, and the test can find the list sooner than that.
    page.wait_for_timeout(150)
    page.keyboard.press("Enter")  # accepts the completion
    assert page.get_by_test_id("sql-editor").input_value() == "SELECT * FROM bank.customers"
    page.keyboard.type(" c WHERE c.seg")
    options.filter(has_text="segment").first.wait_for()
    assert "VARCHAR" in options.filter(has_text="segment").first.inner_text()
    page.wait_for_timeout(150)
    page.keyboard.press("Enter")
    page.keyboard.type(" = 'retail'")
    sql = "SELECT * FROM bank.customers c WHERE c.segment = 'retail'"
    assert page.get_by_test_id("sql-editor").input_value() == sql
    # Highlighting: keywords and strings are coloured tokens, identifiers plain text.
    colour = "(node) => getComputedStyle(node).color"
    plain = code.evaluate(colour)
    keyword = code.locator("span", has_text=re.compile("^WHERE$")).evaluate(colour)
    string = code.locator("span", has_text=re.compile("^'retail'$")).evaluate(colour)
    assert len({plain, keyword, string}) == 3

    # Run with Ctrl+Enter from the code editor.
    page.keyboard.press("Control+Enter")
    assert page.get_by_test_id("sql-row-count").inner_text() == "5"

    # Clicking a column in the browser inserts its name at the cursor.
    page.keyboard.press("Control+End")
    tree.locator("summary", has_text="accounts").first.click(position={"x": 4, "y": 8})
    tree.locator("button[data-insert='balance']").click()
    assert page.get_by_test_id("sql-editor").input_value() == sql + "balance"
    page.keyboard.press("Control+z")
    assert page.get_by_test_id("sql-editor").input_value() == sql

    # Save under a name, shared; the list shows it at once and after a reload.
    page.get_by_test_id("sql-save-name").fill("Retail customers")
    page.get_by_test_id("sql-save-shared").check()
    page.get_by_test_id("sql-save").click()
    saved = page.get_by_test_id("sql-saved")
    saved.locator("a", has_text="Retail customers").wait_for()
    assert "Saved as Retail customers." in page.locator("#sql-save-status").inner_text()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/sql-1400.png", full_page=True)

    page.reload()
    code.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("SELECT 1")
    page.get_by_test_id("sql-saved").locator("a", has_text="Retail customers").click()
    assert page.get_by_test_id("sql-editor").input_value() == sql
    assert code.inner_text() == sql
    assert page.get_by_test_id("sql-save-name").input_value() == "Retail customers"
    assert page.get_by_test_id("sql-save-shared").is_checked()
    with workbench.db.session() as session:
        stored = [(q.name, q.sql, q.shared) for q in session.query(SavedQuery).all()]
    assert stored == [("Retail customers", sql, True)]

    # Narrow window: one column, nothing wider than the window.
    page.set_viewport_size({"width": 800, "height": 900})
    tree.locator("summary", has_text="customers").first.wait_for()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 800
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/sql-800.png", full_page=True)
    assert errors == []

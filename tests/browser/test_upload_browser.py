"""The upload page in a real browser: pick a file, watch progress, preview, override a type,
create the table; drop a file; see errors."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

WATCH_PROGRESS = """() => {
  window.progressTexts = [];
  const text = document.getElementById("progress-text");
  new MutationObserver(() => window.progressTexts.push(text.textContent))
    .observe(text, {childList: true, characterData: true, subtree: true});
}"""

DROP = """() => {
  const transfer = new DataTransfer();
  transfer.items.add(new File(["a,b,c\\n1,2,3\\n4,5\\n"], "ragged.csv", {type: "text/csv"}));
  return transfer;
}"""


def test_pick_preview_override_and_create(portal, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    lines = ["id;customer;amount"] + [f"{i};c{i};{i}.5" for i in range(20_000)]
    path = tmp_path / "Sales 2024.csv"
    path.write_text("\n".join(lines) + "\n")

    page.goto(server.login_link)
    page.goto(f"{server.url}/data/upload")
    page.evaluate(WATCH_PROGRESS)
    page.set_input_files("#file-input", str(path))
    page.get_by_test_id("preview").wait_for(state="visible")
    assert any(t.startswith("Uploading Sales 2024.csv") for t in page.evaluate("progressTexts"))
    assert not page.locator("#progress").is_visible()
    assert not page.locator("#read-options select[name=sheet]").is_visible()  # Excel only
    assert page.locator("#read-options input[name=delimiter]").input_value() == ";"
    assert page.get_by_test_id("table-name").input_value() == "sales_2024"
    headers = page.locator("#preview-table thead th").all_inner_texts()
    assert [h.split("\n")[0].strip() for h in headers] == ["id", "customer", "amount"]
    assert page.locator("#preview-table tbody tr").count() == 20
    assert page.locator("select[data-column=amount]").input_value() == "DOUBLE"

    page.select_option("select[data-column=amount]", "VARCHAR")
    page.click("#create-button")
    result = page.get_by_test_id("upload-result")
    result.wait_for(state="visible")
    assert "main.sales_2024" in result.inner_text() and "20,000 rows loaded" in result.inner_text()
    link = result.locator("a")
    assert link.get_attribute("href") == "/data/tables/main.sales_2024"
    table = workbench.warehouse.table("sales_2024")
    assert [(c.name, c.type) for c in table.columns][2] == ("amount", "VARCHAR")
    version = workbench.warehouse.snapshots("sales_2024")[0]
    assert f"version 1 (lake snapshot {version.snapshot_id})" in result.inner_text()
    assert not page.get_by_test_id("preview").is_visible()


def test_drop_a_bad_file_then_fix_the_options(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    page.goto(server.login_link)
    page.goto(f"{server.url}/data/upload")
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": page.evaluate_handle(DROP)})
    error = page.get_by_test_id("upload-error")
    error.wait_for(state="visible")
    assert error.inner_text().startswith("ragged.csv: line 3: expected 3 columns, found 2")
    assert page.get_by_test_id("preview").is_visible()  # the file is kept: options can change

    page.get_by_test_id("table-name").fill("sales")
    page.click("#create-button")
    page.wait_for_function("document.getElementById('upload-error').textContent.includes('line 3')")
    assert workbench.warehouse.tables() == []
    with page.expect_response(lambda r: r.request.method == "DELETE") as discarded:
        page.click("#cancel-button")
    assert discarded.value.status == 204
    assert not page.get_by_test_id("preview").is_visible()
    inbox = workbench.ingest.inbox.directory
    assert not inbox.exists() or list(inbox.iterdir()) == []


def test_a_ragged_file_loads_when_the_user_chooses_to_pad(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    page.goto(server.login_link)
    page.goto(f"{server.url}/data/upload")
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": page.evaluate_handle(DROP)})
    page.get_by_test_id("upload-error").wait_for(state="visible")

    page.get_by_test_id("ragged").select_option("pad")
    with page.expect_response(lambda r: r.url.endswith("/uploads/preview")) as previewed:
        page.click("#read-options button[type=submit]")
    assert previewed.value.status == 200, previewed.value.text()
    page.get_by_test_id("table-name").fill("padded")
    page.click("#create-button")
    result = page.get_by_test_id("upload-result")
    result.wait_for(state="visible")
    assert "2 rows loaded." in result.inner_text()
    assert workbench.warehouse.read("padded").to_pylist() == [
        {"a": 1, "b": 2, "c": 3},
        {"a": 4, "b": 5, "c": None},
    ]

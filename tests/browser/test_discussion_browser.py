"""Discussion in Chromium: ada comments on a table with a mention of bob (and markup that must
stay text); bob, in another browser context, finds the mention in his activity feed and
follows it to the table's discussion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atelier.services.auth import Principal
from tests.conftest import PASSWORD


def log_in(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def test_a_mention_reaches_the_other_users_feed(portal: Any, page: Any, tmp_path: Path) -> None:
    server, workbench = portal
    for name in ("ada", "bob"):
        workbench.users.create(name, "scientist", PASSWORD)
    ada = workbench.users.get("ada")
    data = tmp_path / "customers.csv"
    data.write_text("id,score\n1,0.5\n2,0.7\n")
    workbench.ingest.upload(
        data, "bank.customers", principal=Principal(ada.id, ada.name, ada.role, "local")
    )

    log_in(page, server.url, "ada")
    page.goto(f"{server.url}/data/tables/bank.customers")
    block = page.get_by_test_id("discussion")
    assert "No comments yet." in block.inner_text()
    page.get_by_test_id("comment-input").fill(
        "@bob the scores of table:bank.customers@1 look off <img src=x onerror=alert(1)>"
    )
    page.get_by_test_id("comment-submit").click()
    body = page.get_by_test_id("comment-body")
    body.wait_for()
    # The markup stayed text; the mention and the reference are Atelier's.
    assert "<img src=x onerror=alert(1)>" in body.inner_text()
    assert body.locator("img").count() == 0
    assert body.locator("span.mention").inner_text() == "@bob"
    link = body.locator("a.reference")
    assert link.get_attribute("href") == "/data/tables/bank.customers?version=1"
    assert page.get_by_test_id("comment-input").input_value() == ""

    other = page.context.browser.new_context()
    try:
        bob = other.new_page()
        log_in(bob, server.url, "bob")
        bob.goto(f"{server.url}/activity")
        items = bob.get_by_test_id("activity-item")
        mention = items.filter(has_text="ada mentioned you on table bank.customers")
        assert mention.count() == 1
        mention.get_by_role("link").click()
        bob.wait_for_url(f"{server.url}/data/tables/bank.customers")
        assert "@bob the scores" in bob.get_by_test_id("comment-body").inner_text()
        # Not the author: no delete button for bob.
        assert bob.get_by_test_id("discussion").get_by_role("button", name="Delete").count() == 0
    finally:
        other.close()

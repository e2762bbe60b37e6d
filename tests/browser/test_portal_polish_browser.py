"""Portal polish in a real browser: numbers on the profile page, a skewed histogram on a log
scale, the HTML refusal a viewer sees, the icon, and pages that fit a narrow window."""

import os
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

#: Set ATELIER_SCREENSHOTS=/some/dir to keep screenshots of the pages at 1400 and 800 px.
SHOTS = os.environ.get("ATELIER_SCREENSHOTS")


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_numbers_histogram_refusal_and_icon(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA hr; CREATE TABLE hr.pay AS SELECT i AS id, "
            "CASE WHEN i < 3 THEN 1000000.0 + i * 1234.5 ELSE 100.0 + (i % 7) END AS salary, "
            "TIMESTAMP '2026-01-01 08:00:00.123456' + i * INTERVAL 1 MINUTE AS hired "
            "FROM range(1000) r(i)"
        ),
        author="ada",
    )
    workbench.users.create("vic", "viewer", PASSWORD)
    icons: list[int] = []
    page.on(
        "response", lambda r: icons.append(r.status) if "favicon" in r.url else None
    )  # fmt: skip

    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(server.login_link if width == 1400 else f"{server.url}/")
        assert "Workspace" not in page.locator("main").inner_text()
        shoot(page, f"home-{width}")
        page.goto(f"{server.url}/data/tables/hr.pay/profile")
        salary = page.locator("[data-column=salary]")
        text = salary.inner_text()
        # Whole digits stay, separators are consistent, no 15-digit floats.
        assert "1,002,469" in text and "e+" not in text
        assert all(len(part) < 16 for part in text.split())
        hired = page.locator("[data-column=hired]").inner_text()
        assert "2026-01-01 08:00:00" in hired and ".123456" not in hired
        # Skewed: shown on a log scale, every non-empty bar visible; one click goes linear.
        assert salary.locator("svg.hist-logscale").is_visible()
        assert not salary.locator("svg.hist-linear").is_visible()
        heights = [
            float(r.get_attribute("height") or 0)
            for r in salary.locator("svg.hist-logscale rect").all()
        ]
        assert sum(1 for h in heights if h > 5) >= 2
        shoot(page, f"profile-{width}")
        salary.locator("label.hist-scale").click()
        assert salary.locator("svg.hist-linear").is_visible()
        # Nothing wider than the window.
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width
        page.goto(f"{server.url}/admin/server")
        assert str(workbench.workspace.root) in page.get_by_test_id("server-details").inner_text()
        shoot(page, f"admin-server-{width}")
    assert icons and set(icons) == {200}

    page.click("text=Log out")
    page.fill("input[name=name]", "vic")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server.url}/data/tables/hr.pay", referer=f"{server.url}/apps")
    assert page.locator("h1").inner_text() == "Not allowed"
    assert "/data/tables/hr.pay" in page.get_by_test_id("error-page").inner_text()
    shoot(page, "refused-800")
    page.get_by_test_id("error-back").click()
    page.wait_for_url(f"{server.url}/apps")

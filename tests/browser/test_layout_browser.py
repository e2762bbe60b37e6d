"""Layout in Chromium at 1400 and 800 px: the login box is centred, the home page's Python
example shows whole lines, and Admin > Users names the local owner."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_login_home_and_users_fit(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, _ = portal
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server.url}/login")
        box = page.get_by_test_id("login-box").bounding_box()
        assert box
        left, right = box["x"], width - box["x"] - box["width"]
        assert abs(left - right) < 20, (width, left, right)
        page.screenshot(path=f"/tmp/login-{width}.png", full_page=True)

    page.goto(server.login_link)
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server.url}/")
        example = page.get_by_test_id("python-example")
        assert "say where and who" in example.inner_text()
        clipped = example.evaluate("(n) => n.scrollWidth > n.clientWidth")
        assert not clipped, width
        page.screenshot(path=f"/tmp/home-{width}.png", full_page=True)
        page.goto(f"{server.url}/admin/users")
        assert "local owner, signs in by link" in page.get_by_test_id("local-owner").inner_text()
        page.screenshot(path=f"/tmp/admin-users-{width}.png", full_page=True)

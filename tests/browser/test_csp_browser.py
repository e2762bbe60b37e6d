"""The portal under its Content-Security-Policy in Chromium: pages, HTMX and the vendored
charts work with no violation reported, and a script injected into a page does not run."""

from typing import Any

import pytest

from atelier.services.demo.load import load_demo

pytestmark = pytest.mark.browser

SQL = "SELECT segment, count(*) AS customers FROM bank.customers GROUP BY ALL ORDER BY 1"


def watch(page: Any) -> list[str]:
    """Every CSP violation and script error the page reports."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text or message.type == "error"
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}") if response.status >= 400 else None
        ),
    )
    return problems


def test_pages_htmx_and_charts_run_under_the_policy(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    load_demo(workbench.warehouse, scale=0.01, author="demo")
    problems = watch(page)
    page.goto(server.login_link)
    for path in ("/", "/data", "/admin/tokens", "/projects", "/jobs", "/features", "/apps"):
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("networkidle")
    # HTMX: the catalog's search swaps the table list in.
    page.goto(f"{server.url}/data")
    page.fill("input[name=search]", "customers")
    page.locator("#table-list").get_by_text("bank.customers").first.wait_for()
    # The chart: vega-embed draws it without eval (the policy has no 'unsafe-eval').
    page.goto(f"{server.url}/data/sql")
    page.get_by_test_id("sql-editor").fill(SQL)
    page.click("#sql-run")
    page.locator("#sql-chart svg .mark-rect path").first.wait_for()
    page.select_option("select[name=chart-mark]", "point")
    page.locator("#sql-chart svg .mark-symbol path").first.wait_for()
    assert problems == []


def test_an_injected_script_does_not_run(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, _ = portal
    page.goto(server.login_link)
    page.goto(f"{server.url}/")
    violations = page.evaluate(
        """() => new Promise((resolve) => {
            const seen = [];
            document.addEventListener(
                "securitypolicyviolation", (e) => seen.push(e.violatedDirective)
            );
            // What an HTML injection would add: an inline script, a handler, a javascript: URL.
            const script = document.createElement("script");
            script.textContent = "window.__pwned = 1";
            document.body.appendChild(script);
            const img = document.createElement("img");
            img.setAttribute("onerror", "window.__pwned = 2");
            img.src = "/static/none.png";
            document.body.appendChild(img);
            const frame = document.createElement("iframe");
            frame.src = "javascript:parent.__pwned = 3";
            document.body.appendChild(frame);
            setTimeout(() => resolve({pwned: window.__pwned || 0, seen}), 1000);
        })"""
    )
    assert violations["pwned"] == 0
    assert any(d.startswith("script-src") for d in violations["seen"]), violations

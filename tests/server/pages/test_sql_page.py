"""The SQL page in-process: editor, HTMX result fragment (grid, row count, Vega-Lite chart,
history swapped in), errors and timeouts as messages, Cancel by run key."""

from __future__ import annotations

import json
import re

import pytest

from atelier.services.workbench import Workbench
from tests.conftest import Accounts
from tests.services.query.running import ENDLESS, Background, wait_for

HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true"}


def headers(accounts: Accounts, role: str = "scientist", **extra: str) -> dict[str, str]:
    return {**HTML, **accounts.headers(role), **extra}


@pytest.fixture
def segments(workbench: Workbench) -> None:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT range AS customer_id, "
            "['retail', 'business', 'private'][range % 3 + 1] AS segment FROM range(30)"
        ),
        author="ada",
    )


def chart_spec(html: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="sql-chart-spec">(.*?)</script>', html)
    assert match, "no chart spec in the page"
    spec: dict[str, object] = json.loads(match.group(1))
    return spec


def test_page_has_editor_history_and_vendored_scripts(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/data/sql", headers=headers(accounts))
    assert page.status_code == 200
    assert 'id="sql-editor"' in page.text and 'hx-post="/data/sql/run"' in page.text
    assert "No queries yet." in page.text
    for script in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js", "sql.js"):
        assert f'src="/static/{script}"' in page.text
        assert client.get(f"/static/{script}").status_code == 200
    prefilled = client.get("/data/sql?table=bank.customers", headers=headers(accounts))
    assert "SELECT * FROM bank.customers LIMIT 100</textarea>" in prefilled.text
    assert client.get("/data/sql", headers=headers(accounts, "viewer")).status_code == 403
    assert client.post("/data/sql/run", headers=headers(accounts, "viewer")).status_code == 403


def test_run_gives_grid_chart_and_history(client, accounts: Accounts, segments: None) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT segment, count(*) AS customers FROM bank.customers GROUP BY ALL ORDER BY 1"
    fragment = client.post(
        "/data/sql/run", data={"sql": sql, "key": "k1"}, headers=headers(accounts, **HTMX)
    )
    assert fragment.status_code == 200
    html = fragment.text
    assert "<html" not in html and 'data-testid="sql-grid"' in html
    assert '<span data-testid="sql-row-count">3</span> rows' in html
    assert "<td>business</td>" in html and '<td class="num">10</td>' in html
    spec = chart_spec(html)
    assert spec["mark"] == {"type": "bar", "tooltip": True}
    assert spec["encoding"]["x"]["field"] == "segment"  # type: ignore[index]
    assert spec["encoding"]["y"]["field"] == "customers"  # type: ignore[index]
    assert len(spec["data"]["values"]) == 3  # type: ignore[index]
    assert '<div id="sql-history" hx-swap-oob="true">' in html
    assert 'data-sql="SELECT segment, count(*) AS customers' in html

    # Without HTMX the whole page comes back, result included.
    page = client.post("/data/sql/run", data={"sql": sql}, headers=headers(accounts))
    assert "<html" in page.text and 'data-testid="sql-grid"' in page.text
    assert f"{sql}</textarea>" in page.text


def test_grid_shows_the_first_page_rows_and_counts_all(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    workbench.settings.query.page_rows = 4
    html = client.post(
        "/data/sql/run",
        data={"sql": "SELECT range AS n, '<b>' || range AS label, NULL AS nothing FROM range(10)"},
        headers=headers(accounts, **HTMX),
    ).text
    assert '<span data-testid="sql-row-count">10</span> rows' in html and "first 4 shown" in html
    assert html.count("<tr>") == 5  # the header and four rows
    assert "&lt;b&gt;3" in html and "<b>3" not in html
    assert '<span class="null">NULL</span>' in html


def test_errors_and_timeouts_are_messages(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench
) -> None:
    def run(sql: str) -> str:
        response = client.post(
            "/data/sql/run", data={"sql": sql}, headers=headers(accounts, **HTMX)
        )
        assert response.status_code == 200  # so that HTMX swaps the message in
        return str(response.text)

    assert "syntax error" in run("SELEC 1") and 'role="alert"' in run("SELEC 1")
    assert "not available in user SQL" in run("SELECT * FROM read_csv('/etc/passwd')")
    assert "Nothing to chart" in run("SELECT 'x' AS only_text")
    workbench.settings.query.timeout_seconds = 0.3
    assert "ran longer than its 0.3 s timeout" in run(ENDLESS)
    history = client.get("/data/sql/history", headers=headers(accounts)).text
    assert "status-timeout" in history and "status-error" in history


def test_cancel_by_run_key(client, accounts: Accounts, workbench: Workbench) -> None:  # type: ignore[no-untyped-def]
    page = headers(accounts, **HTMX)
    running = Background(
        lambda: client.post("/data/sql/run", data={"sql": ENDLESS, "key": "run-7"}, headers=page)
    )
    wait_for(lambda: workbench.query.running("scientist1"))
    query_id = workbench.query.running("scientist1")[0].query_id
    other = client.post("/data/sql/cancel", data={"key": "run-8"}, headers=page)
    assert "Nothing to cancel" in other.text
    cancelled = client.post("/data/sql/cancel", data={"key": "run-7"}, headers=page)
    assert cancelled.text == f"Cancelling query {query_id}…"
    assert running.join() is None
    assert f"query {query_id} was cancelled by scientist1" in running.value.text  # type: ignore[attr-defined]


def test_download_from_the_page(client, accounts: Accounts, segments: None) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT segment, count(*) AS n FROM bank.customers GROUP BY ALL ORDER BY 1"
    got = client.post(
        "/data/sql/download", data={"sql": sql, "format": "csv"}, headers=headers(accounts)
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"].startswith('attachment; filename="query-')
    assert got.text.splitlines() == [
        '"segment","n"',
        '"business",10',
        '"private",10',
        '"retail",10',
    ]

    unknown = client.post(
        "/data/sql/download", data={"sql": sql, "format": "xlsx"}, headers=headers(accounts)
    )
    assert unknown.status_code == 422
    assert "unknown download format &#39;xlsx&#39;" in unknown.text
    assert 'data-testid="sql-error"' in unknown.text and "bank.customers" in unknown.text

    refused = client.post(
        "/data/sql/download",
        data={"sql": "SELECT * FROM read_csv('/etc/passwd')", "format": "csv"},
        headers=headers(accounts),
    )
    assert refused.status_code == 403 and "not available in user SQL" in refused.text
    viewer = client.post(
        "/data/sql/download",
        data={"sql": sql, "format": "csv"},
        headers=headers(accounts, "viewer"),
    )
    assert viewer.status_code == 403 and "business" not in viewer.text

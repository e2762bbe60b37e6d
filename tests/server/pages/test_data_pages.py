"""The data pages rendered in-process: catalog with live search, table page with annotations,
profile with SVG histograms, sources with the admin-only form."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from atelier.services.workbench import Workbench
from tests.conftest import Accounts

HTML = {"Accept": "text/html"}


@pytest.fixture
def orders(workbench: Workbench) -> str:
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA sales; CREATE TABLE sales.orders AS "
            "SELECT i AS order_id, ['north', 'south'][i % 2 + 1] AS region FROM range(40) r(i)"
        ),
        author="admin1",
    )
    return "sales.orders"


def headers(accounts: Accounts, role: str, **extra: str) -> dict[str, str]:
    return {**HTML, **accounts.headers(role), **extra}


def test_catalog_and_live_search(client, accounts: Accounts, orders: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/data", headers=headers(accounts, "scientist"))
    assert page.status_code == 200
    for link in ('href="/data/sql"', 'href="/data/upload"', 'href="/data/sources"'):
        assert link in page.text
    assert f'href="/data/tables/{orders}"' in page.text and 'hx-get="/data"' in page.text

    partial = client.get(
        "/data?search=zzz", headers=headers(accounts, "scientist", **{"HX-Request": "true"})
    )
    assert partial.text.lstrip().startswith('<div id="table-list">')
    assert "No table matches" in partial.text and "<html" not in partial.text
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in client.get("/data", headers=headers(accounts, "admin", **restore)).text
    found = client.get("/data?search=region", headers=headers(accounts, "scientist"))
    assert f'data-table="{orders}"' in found.text
    assert client.get("/data", headers=headers(accounts, "viewer")).status_code == 403


def test_table_page_and_annotations(client, accounts: Accounts, orders: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get(f"/data/tables/{orders}", headers=headers(accounts, "scientist"))
    assert page.status_code == 200
    assert 'data-testid="versions"' in page.text and "admin1" in page.text
    assert 'data-testid="sample"' in page.text and "north" in page.text
    assert f'href="/data/tables/{orders}/profile"' in page.text

    saved = client.post(
        f"/data/tables/{orders}",
        headers=headers(accounts, "scientist", **{"HX-Request": "true"}),
        data={"description": "Orders by region", "tags": "finance, gold"},
    )
    assert saved.status_code == 200 and 'id="annotations"' in saved.text
    assert "Saved." in saved.text and '<span class="tag">gold</span>' in saved.text
    bad = client.post(
        f"/data/tables/{orders}",
        headers=headers(accounts, "scientist", **{"HX-Request": "true"}),
        data={"description": "", "tags": "x" * 80},
    )
    assert 'role="alert"' in bad.text and "at most 64 characters" in bad.text
    plain = client.post(
        f"/data/tables/{orders}",
        headers=headers(accounts, "scientist"),
        data={"description": "Orders", "tags": "gold"},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"] == f"/data/tables/{orders}"

    missing = client.get("/data/tables/sales.nope", headers=headers(accounts, "scientist"))
    assert missing.status_code == 404 and "no table sales.nope" in missing.text


def test_profile_page(client, accounts: Accounts, orders: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get(f"/data/tables/{orders}/profile", headers=headers(accounts, "scientist"))
    assert page.status_code == 200
    assert 'data-column="order_id"' in page.text and 'data-column="region"' in page.text
    # 20 bins of order_id (drawn linear and on a log scale), 2 bars of region.
    log_drawings = re.findall(r'<svg class="hist hist-logscale".*?</svg>', page.text, re.S)
    assert [d.count("<rect ") for d in log_drawings] == [20]
    assert page.text.count("<rect ") == 20 + 20 + 2
    assert 'class="hist-log"' in page.text and "Log scale" in page.text
    old = client.get(f"/data/tables/{orders}/profile?version=1", headers=headers(accounts, "admin"))
    assert "at version 1" in old.text
    gone = client.get(
        f"/data/tables/{orders}/profile?version=42", headers=headers(accounts, "admin")
    )
    assert gone.status_code == 422


def test_sources_page(client, accounts: Accounts, workbench: Workbench, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE leads (id INTEGER)")
    sci = client.get("/data/sources", headers=headers(accounts, "scientist"))
    assert sci.status_code == 200 and "Add a source" not in sci.text
    admin = client.get("/data/sources", headers=headers(accounts, "admin"))
    assert "Add a source" in admin.text

    refused = client.post(
        "/data/sources",
        headers=headers(accounts, "scientist"),
        data={"name": "crm", "type": "sqlite", "path": str(path)},
    )
    assert refused.status_code == 403
    bad = client.post(
        "/data/sources",
        headers=headers(accounts, "admin"),
        data={
            "name": "crm",
            "type": "postgres",
            "host": "127.0.0.1",
            "port": "1",
            "database": "x",
            "password": "Hidden-Pa55-42",
        },
    )
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    assert "Hidden-Pa55-42" not in bad.text and 'value="127.0.0.1"' in bad.text
    added = client.post(
        "/data/sources",
        headers=headers(accounts, "admin"),
        data={"name": "crm", "type": "sqlite", "path": str(path), "host": "ignored"},
    )
    assert added.status_code == 200 and "Source crm added." in added.text
    assert workbench.sources.get("crm").options == {"path": str(path.resolve())}
    removed = client.post("/data/sources/crm/remove", headers=headers(accounts, "admin"))
    assert "Source crm removed." in removed.text and workbench.sources.list() == []


def test_versions_count_per_table_with_the_lake_snapshot_as_a_detail(  # type: ignore[no-untyped-def]
    client, accounts: Accounts, workbench: Workbench, orders: str
) -> None:
    import pyarrow as pa

    from atelier.services.auth import Principal

    user = workbench.users.get("scientist1")
    who = Principal(user.id, user.name, user.role, "token")
    for i in range(3):  # other tables move the lake's snapshot on
        workbench.ingest.upload(pa.table({"x": [i]}), f"other_{i}", principal=who)
    first = workbench.ingest.upload(pa.table({"id": [1]}), "fresh", principal=who)
    second = workbench.ingest.upload(pa.table({"id": [2]}), "fresh", mode="append", principal=who)
    assert (first.table_version, second.table_version) == (1, 2)
    assert first.version > 4 and second.version == first.version + 1

    page = client.get("/data/tables/main.fresh", headers=headers(accounts, "scientist")).text
    version = re.search(r'data-testid="table-version">(.*?)</dd>', page, re.S)
    assert version and re.sub(r"<[^>]+>|\s+", " ", version.group(1)).split() == [
        "2", "(lake", "snapshot", f"{second.version})",
    ]  # fmt: skip
    rows = re.findall(r"<tr><td>(\d+)</td><td class=\"hint\">(\d+)</td>", page)
    assert rows == [("2", str(second.version)), ("1", str(first.version))]
    assert "Version 1 is the table's creation" in page
    # The profile of an old snapshot names the same version; a snapshot between the table's
    # versions is the version it saw.
    old = client.get(
        f"/data/tables/main.fresh/profile?version={first.version}",
        headers=headers(accounts, "scientist"),
    ).text
    assert f"at version 1 (lake snapshot {first.version})" in old
    assert workbench.catalog.version_at("main.fresh", first.version - 1) is None
    at = workbench.catalog.version_at("main.fresh", second.version + 5)
    assert at is not None and (at.number, at.version) == (2, second.version)
    assert workbench.catalog.version_at("main.gone", 3) is None

"""The catalog: listing, searching, describing and annotating warehouse tables, with owners
from DuckLake snapshots and annotations kept in the metadata database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier.errors import InvalidInput, NotFound
from atelier.services.workbench import Workbench
from tests.conftest import count_lake_sessions


def write(wb: Workbench, sql: str, author: str | None = "ada") -> None:
    wb.warehouse.run_write(lambda c: c.execute(sql), author=author, message="test")


@pytest.fixture
def tables(workbench: Workbench) -> Workbench:
    write(workbench, "CREATE SCHEMA sales")
    write(
        workbench,
        "CREATE TABLE sales.orders AS SELECT i AS order_id, i * 2.5 AS total, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_days(i::INT) AS placed_at "
        "FROM range(30) r(i)",
    )
    write(workbench, "CREATE TABLE main.people (person_id INT, email VARCHAR)", author="grace")
    return workbench


def test_list_and_search(tables: Workbench) -> None:
    entries = {e.name: e for e in tables.catalog.list()}
    assert list(entries) == ["main.people", "sales.orders"]
    orders = entries["sales.orders"]
    assert orders.kind == "table" and orders.rows == 30 and orders.size_bytes is not None
    assert orders.owner == "ada" and entries["main.people"].owner == "grace"
    assert [c.name for c in orders.columns] == ["order_id", "total", "placed_at"]

    tables.catalog.update("main.people", description="Customers we know", tags=["pii"], by="x")
    search = tables.catalog.list
    assert [e.name for e in search("ORDERS")] == ["sales.orders"]
    assert [e.name for e in search("email")] == ["main.people"]  # a column name
    assert [e.name for e in search("pii")] == ["main.people"]  # a tag
    assert [e.name for e in search("customers know")] == ["main.people"]  # every word
    assert search("customers orders") == []


def test_describe_has_versions_and_a_json_safe_sample(tables: Workbench) -> None:
    write(tables, "INSERT INTO sales.orders SELECT 100, 1.0, NULL", author="edsger")
    write(tables, "DELETE FROM sales.orders WHERE order_id < 5", author="grace")
    detail = tables.catalog.describe("sales.orders")

    assert detail.entry.rows == 26 and detail.entry.owner == "ada"
    versions = [(v.author, v.rows_inserted, v.rows_deleted) for v in detail.versions]
    assert versions == [("ada", 30, 0), ("edsger", 1, 0), ("grace", 0, 5)]
    assert tables.catalog.versions("sales.orders") == list(detail.versions)
    assert detail.sample_columns == ("order_id", "total", "placed_at")
    assert len(detail.sample_rows) == 20
    first = detail.sample_rows[0]
    assert first[0] == 5 and first[1] == 12.5 and str(first[2]).startswith("2024-01-06")
    json.dumps(detail.as_dict(), allow_nan=False)


def test_annotations_persist_and_set_the_owner(tables: Workbench) -> None:
    entry = tables.catalog.update(
        "sales.orders", description="  All orders ", tags=["finance", " gold ", "finance"], by="x"
    )
    assert entry.description == "All orders" and entry.tags == ("finance", "gold")
    assert entry.owner == "ada"  # the table's first author, not the editor
    tables.catalog.update("sales.orders", tags=[], by="y")
    again = tables.catalog.describe("sales.orders").entry
    assert again.description == "All orders" and again.tags == ()

    # A table written without an author: the ingest hook names its owner.
    write(tables, "CREATE TABLE main.anonymous AS SELECT 1 AS x", author=None)
    tables.catalog.register_write("main.anonymous", "hedy")
    tables.catalog.register_write("main.anonymous", "someone-later")
    assert tables.catalog.describe("main.anonymous").entry.owner == "hedy"
    write(tables, "CREATE TABLE main.orphan AS SELECT 1 AS x", author=None)
    assert tables.catalog.update("orphan", tags=["t"], by="ida").owner == "ida"


def test_bad_names_and_annotations_are_refused(tables: Workbench) -> None:
    with pytest.raises(NotFound, match=r"no table sales\.nope"):
        tables.catalog.describe("sales.nope")
    with pytest.raises(NotFound):
        tables.catalog.update("sales.nope", tags=["x"], by="ada")
    with pytest.raises(NotFound, match=r"no table ghost\.main\.t"):
        tables.catalog.describe("ghost.main.t")
    with pytest.raises(InvalidInput, match=r"schema\.table"):
        tables.catalog.describe("sales..orders")
    with pytest.raises(InvalidInput, match="no commas"):
        tables.catalog.update("sales.orders", tags=["a,b"], by="ada")
    with pytest.raises(InvalidInput, match="at most 32 tags"):
        tables.catalog.update("sales.orders", tags=[f"t{i}" for i in range(33)], by="ada")
    assert tables.catalog.describe("sales.orders").entry.tags == ()


def test_source_tables_can_be_annotated(tables: Workbench, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE leads (id INTEGER)")
    tables.sources.add("crm", "sqlite", options={"path": str(path)}, secrets={}, by="boss")
    entry = tables.catalog.update("crm.main.leads", tags=["external"], by="ada")
    assert entry.owner == "boss" and entry.kind == "source"
    assert [e.name for e in tables.catalog.list("external")] == ["crm.main.leads"]
    assert tables.catalog.versions("crm.main.leads") == []
    tables.sources.remove("crm")
    assert tables.catalog.list("external") == []


def test_the_list_reads_the_lake_on_a_kept_session_and_sources_on_their_own(
    tables: Workbench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    tables.catalog.list()
    opened = count_lake_sessions(monkeypatch, tables.warehouse)
    assert [e.name for e in tables.catalog.list()] == ["main.people", "sales.orders"]
    assert opened == []  # the lake's tables, on the session the first list kept
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE leads (id INTEGER)")
    tables.sources.add("crm", "sqlite", options={"path": str(path)}, secrets={}, by="boss")
    opened.clear()
    names = [e.name for e in tables.catalog.list()]
    assert names == ["main.people", "sales.orders", "crm.main.leads"]
    assert opened == [False]  # one session with the source attached, for its tables only

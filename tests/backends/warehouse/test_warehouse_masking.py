"""The parse-tree rewrite that reads masked tables through policy subqueries, on a plain
DuckDB database named like the lake (the lake itself: tests/security/test_pii_masking.py)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from atelier.backends.warehouse import QueryRefused
from atelier.backends.warehouse.masking import Masking, rewrite


@pytest.fixture
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS lake; USE lake")
    con.execute(
        "CREATE SCHEMA bank; CREATE TABLE bank.customers AS "
        "SELECT 1 AS id, 'ann@example.com' AS email; "
        "CREATE TABLE main.people AS SELECT 'Ann' AS name; "
        "ATTACH ':memory:' AS crm; CREATE TABLE crm.main.leads AS SELECT 'x@y.z' AS email"
    )
    yield con
    con.close()


def _redact(column: str, sql_type: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE 'masked' END"


MASKING = Masking(
    {
        "bank.customers": {"email": _redact},
        "main.people": {"name": _redact},
        "crm.main.leads": {"email": _redact},
    }
)


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(rewrite(con, sql, MASKING, "lake")).fetchall()


def test_every_way_of_naming_a_masked_table_reads_it_masked(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    for sql in (
        "SELECT email FROM bank.customers",
        "SELECT email FROM lake.bank.customers",
        'SELECT "EMAIL" FROM "Bank"."Customers"',
        "SELECT c.email FROM bank.customers AS c",
        "SELECT e FROM bank.customers AS c(i, e)",
        "SELECT name FROM people",
        "SELECT name FROM main.people",
        "SELECT name FROM lake.people",
        "SELECT email FROM crm.leads",
        "SELECT email FROM crm.main.leads",
    ):
        assert _run(connection, sql) == [("masked",)], sql


def test_statements_without_masked_tables_are_not_changed(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    sql = "select id  FROM bank.customers -- the id is not personal"
    assert rewrite(connection, sql, Masking({"other.t": {"x": _redact}}), "lake") == sql
    assert rewrite(connection, "SELECT 1", MASKING, "lake") == "SELECT 1"
    assert rewrite(connection, "SELECT * FROM bank.customers", Masking(), "lake") == (
        "SELECT * FROM bank.customers"
    )
    # A CTE named like a masked table of another schema reads the CTE.
    cte = "WITH customers AS (SELECT 'cte' AS email) SELECT email FROM customers"
    assert _run(connection, cte) == [("cte",)]


def test_what_cannot_be_rewritten_is_refused(connection: duckdb.DuckDBPyConnection) -> None:
    for sql in (
        "EXPLAIN SELECT email FROM bank.customers",
        "WITH people AS (SELECT 1 AS name) SELECT * FROM people",
        "SELECT * FROM lake.table_changes('customers', 0, 1)",
    ):
        with pytest.raises(QueryRefused):
            rewrite(connection, sql, MASKING, "lake")

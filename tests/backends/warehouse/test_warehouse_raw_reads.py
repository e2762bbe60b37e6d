"""Which raw columns a statement reads (for the audit of raw reads), personal tables masked as
a whole, and ``schema.table.column`` over a masked table, on a plain DuckDB database named
like the lake (the whole path through the query service: tests/services/pii/)."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from atelier.backends.warehouse import QueryRefused
from atelier.backends.warehouse.masking import EVERY_COLUMN, UNTAGGED, Masking, raw_reads, rewrite


@pytest.fixture
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS lake; USE lake")
    con.execute(
        "CREATE SCHEMA bank; CREATE SCHEMA shop; "
        "CREATE TABLE bank.customers AS SELECT 1 AS id, 'ann@example.com' AS email, "
        "'+44 20 7946 0958' AS phone, 'gold' AS segment; "
        "CREATE TABLE bank.notes AS SELECT 1 AS id, 'called Ann' AS memo; "
        "CREATE TABLE shop.customers AS SELECT 2 AS id, 'bob@example.org' AS email; "
        "CREATE TABLE main.orders AS SELECT 1 AS id, 'ann@example.com' AS email, 10 AS amount"
    )
    yield con
    con.close()


def _redact(column: str, sql_type: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE 'masked' END"


#: email raw (a grant on the kind), phone masked; bank.notes personal and read raw.
RAW = {"bank.customers": {"email": "email"}, "bank.notes": {EVERY_COLUMN: UNTAGGED}}


def _plan(**kwargs: object) -> Masking:
    return Masking({"bank.customers": {"phone": _redact}}, raw=RAW, **kwargs)  # type: ignore[arg-type]


EMAIL = {"bank.customers": {"email": "email"}}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # Only the tagged columns read raw count, however the statement reaches them.
        ("SELECT id, segment FROM bank.customers", {}),
        ("SELECT count(*) FROM bank.customers", {}),
        ("SELECT phone FROM bank.customers", {}),  # masked: nothing raw
        ("DESCRIBE bank.customers", {}),  # names and types, no values
        ("SELECT email FROM bank.customers", EMAIL),
        ('SELECT "EMAIL" FROM "Bank"."Customers"', EMAIL),
        ("SELECT c.email AS e FROM lake.bank.customers AS c", EMAIL),
        ("SELECT e FROM bank.customers AS c(i, e)", EMAIL),
        ("SELECT x.e FROM (SELECT email AS e FROM bank.customers) x", EMAIL),
        ("WITH t AS (SELECT * FROM bank.customers) SELECT id FROM t", EMAIL),
        ("WITH t AS (SELECT email AS y FROM bank.customers) SELECT y FROM t", EMAIL),
        ("SELECT * FROM bank.customers", EMAIL),
        ("FROM bank.customers", EMAIL),
        ("SELECT c.* FROM bank.customers c", EMAIL),
        ("SELECT COLUMNS('e.*') FROM bank.customers", EMAIL),
        ("SELECT to_json(c) FROM bank.customers c", EMAIL),
        ("SELECT customers FROM bank.customers", EMAIL),
        ("SELECT #2 FROM bank.customers", EMAIL),
        ("SUMMARIZE bank.customers", EMAIL),
        ("UNPIVOT bank.customers ON email, phone INTO NAME k VALUE v", EMAIL),
        ("SELECT count(*) FROM main.orders JOIN bank.customers USING (email)", EMAIL),
        ("SELECT count(*) FROM main.orders NATURAL JOIN bank.customers", EMAIL),
        ("SELECT o.amount FROM orders o JOIN bank.customers c ON o.email = c.email", EMAIL),
        ("SELECT (SELECT max(email) FROM bank.customers) AS m", EMAIL),
        ("SELECT id FROM bank.customers WHERE email LIKE '%example%'", EMAIL),
        ("SELECT bank.customers.email FROM bank.customers", EMAIL),
        ("SELECT struct_pack(*COLUMNS(*)) FROM bank.customers", EMAIL),
        ("SELECT * FROM (SELECT * FROM bank.customers) s", EMAIL),
        ("SELECT * FROM bank.customers AT (VERSION => 1)", EMAIL),
        ("SELECT * FROM orders UNION ALL SELECT id, email, 1 FROM bank.customers", EMAIL),
        ("SELECT * FROM (SELECT id FROM bank.customers), LATERAL (SELECT 1)", {}),
        ("PIVOT bank.customers ON segment IN ('gold') USING count(*)", EMAIL),
        # Another table's column or rows do not make the table's rows count, nor its qualifier.
        ("SELECT o.* FROM orders o JOIN bank.customers c USING (id)", {}),
        ("SELECT c.id, o.* FROM bank.customers c, (SELECT * FROM orders) o", {}),
        ("SELECT c.id FROM bank.customers c WHERE c.id IN (SELECT * FROM (SELECT 1))", {}),
        ("SELECT lake.bank.customers.phone FROM bank.customers", {}),
        # A personal table read raw: each of its untagged columns, by the kind 'personal'.
        ("SELECT memo FROM bank.notes", {"bank.notes": {"memo": UNTAGGED}}),
        ("SELECT * FROM bank.notes", {"bank.notes": {"id": UNTAGGED, "memo": UNTAGGED}}),
        # What DuckDB cannot put in a tree counts every raw column of the tables it names.
        ("EXPLAIN SELECT id FROM bank.customers", EMAIL),
    ],
)
def test_the_raw_columns_a_statement_reads(
    connection: duckdb.DuckDBPyConnection, sql: str, expected: dict[str, dict[str, str]]
) -> None:
    plan = _plan()
    assert raw_reads(connection, sql, plan, "lake") == expected
    assert plan.reads.take() == expected  # noted on the plan too, for the audit
    assert plan.reads.take() == {}  # and taken once


def test_another_schemas_table_of_the_same_name_is_not_a_raw_read(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    plan = _plan()
    assert raw_reads(connection, "SELECT email FROM shop.customers", plan, "lake") == {}


def test_row_functions_naming_a_raw_table_count_its_raw_columns(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    plan = Masking(raw={"bank.customers": {"email": "email"}})
    sql = "SELECT * FROM table_changes('customers', 0, 1)"
    assert raw_reads(connection, sql, plan, "lake") == EMAIL


def test_a_plan_with_no_raw_columns_reads_nothing_raw(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    plan = Masking({"bank.customers": {"email": _redact}})
    assert raw_reads(connection, "SELECT * FROM bank.customers", plan, "lake") == {}
    assert not plan.reads


def test_a_personal_table_masks_its_untagged_columns(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    plan = Masking(personal={"bank.notes": _redact})
    for sql in ("SELECT * FROM bank.notes", "SELECT n.memo, n.id FROM bank.notes n"):
        rows = connection.execute(rewrite(connection, sql, plan, "lake")).fetchall()
        assert "called Ann" not in str(rows) and "masked" in str(rows)
    # Its tagged columns read raw under a grant stay raw; the others are masked.
    plan = Masking(personal={"bank.notes": _redact}, raw={"bank.notes": {"memo": "free_text"}})
    sql = "SELECT id, memo FROM bank.notes"
    assert connection.execute(rewrite(connection, sql, plan, "lake")).fetchall() == [
        ("masked", "called Ann")
    ]


def test_a_column_qualified_by_schema_and_table_reads_the_masked_table(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    plan = Masking({"bank.customers": {"email": _redact}})
    for sql in (
        "SELECT bank.customers.email FROM bank.customers",
        "SELECT lake.bank.customers.email FROM bank.customers",
        "SELECT BANK.CUSTOMERS.EMAIL FROM bank.customers WHERE bank.customers.id = 1",
        "SELECT bank.customers.email, o.amount FROM bank.customers JOIN orders o "
        "ON bank.customers.id = o.id",
    ):
        rows = connection.execute(rewrite(connection, sql, plan, "lake")).fetchall()
        assert rows and rows[0][0] == "masked", sql
    # An alias hides the table's name, as in DuckDB itself.
    with pytest.raises(duckdb.BinderException):
        connection.execute(
            rewrite(connection, "SELECT bank.customers.email FROM bank.customers c", plan, "lake")
        )


def test_two_masked_tables_of_one_name_without_aliases_are_refused(
    connection: duckdb.DuckDBPyConnection,
) -> None:
    plan = Masking({"bank.customers": {"email": _redact}, "shop.customers": {"email": _redact}})
    with pytest.raises(QueryRefused, match="give each an alias"):
        rewrite(connection, "SELECT 1 FROM bank.customers, shop.customers", plan, "lake")
    sql = "SELECT a.email, b.email FROM bank.customers a, shop.customers b"
    assert connection.execute(rewrite(connection, sql, plan, "lake")).fetchall() == [
        ("masked", "masked")
    ]

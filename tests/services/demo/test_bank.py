"""The demo bank: deterministic, consistent, plausible, and with churn that can be predicted."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from atelier.errors import Conflict, InvalidInput
from atelier.services.demo import TABLES, generate

SCALE = 0.05


def _bank(scale: float, seed: int = 42, schema: str = "bank") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    generate(con, scale=scale, seed=seed, schema=schema)
    return con


@pytest.fixture(scope="module")
def bank() -> Iterator[duckdb.DuckDBPyConnection]:
    con = _bank(SCALE)
    yield con
    con.close()


def _checksums(con: duckdb.DuckDBPyConnection, schema: str = "bank") -> dict[str, tuple[int, int]]:
    """Per table: row count and an order-independent sum of row hashes."""
    sums = {}
    for table in TABLES:
        count, total = _row(con, f"SELECT count(*), sum(hash(t)::HUGEINT) FROM {schema}.{table} t")
        assert isinstance(count, int) and isinstance(total, int)
        sums[table] = (count, total)
    return sums


def _row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[object, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return _row(con, sql)[0]


def test_same_seed_and_scale_give_the_same_tables() -> None:
    first, second, other = _bank(0.02), _bank(0.02), _bank(0.02, seed=7)
    assert _checksums(first) == _checksums(second)
    differs = _checksums(other)
    assert all(differs[t] != _checksums(first)[t] for t in TABLES)


def test_returns_counts_and_uses_the_schema_given() -> None:
    con = duckdb.connect()
    steps: list[str] = []
    counts = generate(con, scale=0.01, schema="demo_bank", progress=steps.append)
    assert steps == list(TABLES)
    for table in TABLES:
        assert counts[table] == _scalar(con, f"SELECT count(*) FROM demo_bank.{table}")


def test_types_are_the_documented_ones(bank: duckdb.DuckDBPyConnection) -> None:
    def types(table: str) -> dict[str, str]:
        return {r[0]: r[1] for r in bank.execute(f"DESCRIBE bank.{table}").fetchall()}

    assert types("transactions") == {
        "transaction_id": "BIGINT",
        "account_id": "BIGINT",
        "customer_id": "BIGINT",
        "ts": "TIMESTAMP",
        "amount": "DECIMAL(12,2)",
        "currency": "VARCHAR",
        "merchant_category": "VARCHAR",
        "channel": "VARCHAR",
        "is_fee": "BOOLEAN",
    }
    assert types("customers")["date_of_birth"] == "DATE"
    assert types("accounts")["monthly_fee"] == "DECIMAL(8,2)"
    assert types("support_tickets")["satisfaction"] == "SMALLINT"
    assert types("churn_labels") == {"customer_id": "BIGINT", "month": "DATE", "churned": "BOOLEAN"}


def test_counts_scale_linearly(bank: duckdb.DuckDBPyConnection) -> None:
    customers = _scalar(bank, "SELECT count(*) FROM bank.customers")
    transactions = _scalar(bank, "SELECT count(*) FROM bank.transactions")
    assert customers == 500
    assert isinstance(transactions, int) and abs(transactions - 50_000) < 2_500
    fewest, most, accounts = _row(
        bank,
        "SELECT min(n), max(n), sum(n) FROM "
        "(SELECT count(*) AS n FROM bank.accounts GROUP BY customer_id)",
    )
    assert (fewest, most) == (1, 3)
    assert isinstance(accounts, float | int) and 1.5 * 500 < accounts < 2.5 * 500


def test_tiny_scale_works() -> None:
    counts = generate(duckdb.connect(), scale=0.001)
    assert counts["customers"] == 10
    assert 500 < counts["transactions"] < 1_500


def test_full_scale_has_about_a_million_transactions() -> None:
    counts = generate(duckdb.connect(), scale=1.0)
    assert counts["customers"] == 10_000
    assert abs(counts["transactions"] - 1_000_000) < 20_000
    assert 15_000 < counts["accounts"] < 25_000


def test_references_hold(bank: duckdb.DuckDBPyConnection) -> None:
    orphans = {
        "account without customer": """
            SELECT count(*) FROM bank.accounts a ANTI JOIN bank.customers c USING (customer_id)""",
        "transaction of a missing or another customer's account": """
            SELECT count(*) FROM bank.transactions t
            ANTI JOIN bank.accounts a ON a.account_id = t.account_id
                AND a.customer_id = t.customer_id""",
        "transaction outside its account's life": """
            SELECT count(*) FROM bank.transactions t JOIN bank.accounts a USING (account_id)
            WHERE t.ts < a.opened_date OR t.ts >= coalesce(a.closed_date, DATE '2026-07-01')""",
        "transaction outside the two years": """
            SELECT count(*) FROM bank.transactions
            WHERE ts < DATE '2024-07-01' OR ts >= DATE '2026-07-01'""",
        "ticket without customer": """
            SELECT count(*) FROM bank.support_tickets
            ANTI JOIN bank.customers USING (customer_id)""",
        "label without customer": """
            SELECT count(*) FROM bank.churn_labels
            ANTI JOIN bank.customers USING (customer_id)""",
        "customer without a current account": """
            SELECT count(*) FROM bank.customers c
            ANTI JOIN (SELECT customer_id FROM bank.accounts WHERE account_type = 'current')
            USING (customer_id)""",
        "duplicate transaction id": """
            SELECT count(*) - count(DISTINCT transaction_id) FROM bank.transactions""",
        "ticket resolved before it opened": """
            SELECT count(*) FROM bank.support_tickets WHERE resolved_at < opened_at""",
    }
    found = {name: _scalar(bank, sql) for name, sql in orphans.items()}
    assert found == dict.fromkeys(orphans, 0)


def test_churned_customers_leave_for_good(bank: duckdb.DuckDBPyConnection) -> None:
    leavers = _scalar(bank, "SELECT count(*) FROM bank.churn_labels WHERE churned")
    assert isinstance(leavers, int) and leavers > 20
    after = _scalar(
        bank,
        """SELECT count(*) FROM bank.churn_labels l
           JOIN (SELECT customer_id, month AS left_in FROM bank.churn_labels WHERE churned)
           USING (customer_id) WHERE l.month > left_in""",
    )
    assert after == 0
    accounts, closed_that_month = _row(
        bank,
        """SELECT count(*), count(*) FILTER (a.closed_date IS NOT NULL
                 AND date_trunc('month', a.closed_date) = l.month AND a.status = 'closed')
           FROM bank.accounts a JOIN bank.churn_labels l USING (customer_id) WHERE l.churned""",
    )
    assert accounts == closed_that_month
    stayers_closed = _scalar(
        bank,
        """SELECT count(*) FROM bank.accounts WHERE closed_date IS NOT NULL AND customer_id NOT IN
           (SELECT customer_id FROM bank.churn_labels WHERE churned)""",
    )
    assert stayers_closed == 0
    monthly = _scalar(bank, "SELECT avg(churned::INT) FROM bank.churn_labels")
    assert isinstance(monthly, float) and 0.005 < monthly < 0.03


def test_personal_data_is_present_and_plausible(bank: duckdb.DuckDBPyConnection) -> None:
    people = bank.execute("SELECT * FROM bank.customers").df()
    assert people["email"].is_unique
    assert people["email"].str.fullmatch(r"[a-z0-9._]+@[a-z.]*example\.(com|net|org)").all()
    assert people["phone"].str.fullmatch(r"\+(44|49|33|31) [0-9 ]+").all()
    for column in ("first_name", "last_name", "street_address", "city", "postcode"):
        assert people[column].str.len().min() > 1, column
    assert people["first_name"].nunique() > 30
    assert set(people["country"]) == {"GB", "DE", "FR", "NL"}
    assert set(people["segment"]) == {"student", "mass", "affluent", "premier"}
    minors = _scalar(
        bank,
        "SELECT count(*) FROM bank.customers "
        "WHERE date_of_birth + INTERVAL 18 YEAR > signup_date OR date_of_birth < DATE '1930-01-01'",
    )
    assert minors == 0
    ibans = bank.execute("SELECT iban FROM bank.accounts WHERE iban IS NOT NULL").fetchall()
    assert all(_iban_is_valid(row[0]) for row in ibans)


def _iban_is_valid(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def test_fees_and_complaints_are_present(bank: duckdb.DuckDBPyConnection) -> None:
    fees, largest = _row(bank, "SELECT count(*), max(amount) FROM bank.transactions WHERE is_fee")
    assert isinstance(fees, int) and fees > 0
    assert isinstance(largest, Decimal) and largest < 0
    tickets = bank.execute("SELECT DISTINCT category FROM bank.support_tickets").fetchall()
    categories = {row[0] for row in tickets}
    assert {"complaint", "fee_dispute"} <= categories


# A hand-made score for each customer-month from the three months before it: a drop in
# activity, complaints and fees. Only months with four months of history are scored.
SCORE_SQL = """
WITH activity AS (
    SELECT customer_id, date_trunc('month', ts)::DATE AS month,
           count(*) FILTER (NOT is_fee) AS moves, count(*) FILTER (is_fee) AS fees
    FROM bank.transactions GROUP BY ALL
), grievances AS (
    SELECT customer_id, date_trunc('month', opened_at)::DATE AS month, count(*) AS complaints
    FROM bank.support_tickets WHERE category IN ('complaint', 'fee_dispute') GROUP BY ALL
), monthly AS (
    SELECT l.customer_id, l.month, l.churned,
           coalesce(a.moves, 0) AS moves, coalesce(a.fees, 0) AS fees,
           coalesce(g.complaints, 0) AS complaints,
           row_number() OVER w AS history
    FROM bank.churn_labels l
    LEFT JOIN activity a USING (customer_id, month)
    LEFT JOIN grievances g USING (customer_id, month)
    WINDOW w AS (PARTITION BY l.customer_id ORDER BY l.month)
), features AS (
    SELECT churned, history,
           lag(moves) OVER w AS last_month,
           avg(moves) OVER (w ROWS BETWEEN 4 PRECEDING AND 2 PRECEDING) AS before,
           sum(complaints) OVER (w ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING) AS complaints,
           sum(fees) OVER (w ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING) AS fees
    FROM monthly
    WINDOW w AS (PARTITION BY customer_id ORDER BY month)
)
SELECT churned, ln((before + 1) / (last_month + 1)) + 0.5 * complaints + 0.1 * fees AS score
FROM features WHERE history > 4
"""


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties at half."""
    ranks = pd.Series(score).rank().to_numpy()
    positives, negatives = int(label.sum()), int((~label).sum())
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def test_churn_is_predictable_from_the_other_tables(bank: duckdb.DuckDBPyConnection) -> None:
    scored = bank.execute(SCORE_SQL).df()
    label = scored["churned"].to_numpy(bool)
    assert label.sum() >= 30
    auc = _auc(scored["score"].to_numpy(float), label)
    assert auc > 0.7


def test_auc_formula() -> None:
    label = np.array([False, False, True, True])
    assert _auc(np.array([0.1, 0.2, 0.3, 0.4]), label) == 1.0
    assert _auc(np.array([0.4, 0.3, 0.2, 0.1]), label) == 0.0
    assert _auc(np.array([1.0, 1.0, 1.0, 1.0]), label) == 0.5


def test_existing_tables_are_a_conflict_unless_replaced() -> None:
    con = _bank(0.002)
    before = _checksums(con)
    with pytest.raises(Conflict, match="already holds demo tables"):
        generate(con, scale=0.002, seed=1)
    assert _checksums(con) == before
    counts = generate(con, scale=0.003, seed=1, replace=True)
    assert counts["customers"] == 30 == _scalar(con, "SELECT count(*) FROM bank.customers")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "scale"),
        ({"scale": -1.0}, "scale"),
        ({"scale": math.nan}, "scale"),
        ({"seed": -1}, "seed"),
        ({"schema": 'bank"; DROP TABLE x; --'}, "schema"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        generate(duckdb.connect(), **kwargs)  # type: ignore[arg-type]


def test_writes_into_a_ducklake_catalog(tmp_path: Path) -> None:
    ducklake = pytest.importorskip("duckdb_extension_ducklake")
    extension = (
        Path(ducklake.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "ducklake.duckdb_extension"
    )
    con = duckdb.connect()
    con.execute(f"LOAD '{extension}'")
    con.execute(
        f"ATTACH 'ducklake:{tmp_path / 'meta.ducklake'}' AS lake (DATA_PATH '{tmp_path / 'data'}')"
    )
    con.execute("USE lake")
    counts = generate(con, scale=0.005)
    assert counts["transactions"] == _scalar(con, "SELECT count(*) FROM lake.bank.transactions")
    snapshots = _scalar(con, "SELECT count(*) FROM ducklake_snapshots('lake')")
    assert snapshots == 2  # the catalog's creation, then the whole demo bank at once

"""The demo bank: a deterministic synthetic retail-bank warehouse for demos and tests.

``generate(con, scale=1.0, seed=42)`` writes five tables into ``schema`` (default ``bank``) of
the connection's current catalog (a DuckLake catalog or plain DuckDB), covering the two years
from 2024-07-01 to 2026-06-30. Row counts grow linearly with ``scale``; at 1.0:

- ``customers`` (~10k): ``customer_id`` BIGINT, ``first_name``, ``last_name``, ``email``
  (unique, ``example.*`` domains), ``phone``, ``street_address``, ``city``, ``postcode``,
  ``country`` (GB, DE, FR, NL) VARCHAR, ``date_of_birth`` DATE (adult at signup),
  ``signup_date`` DATE (up to 12 years before the window), ``segment`` VARCHAR
  (student, mass, affluent, premier). Names, contact details, address and birth date are PII.
- ``accounts`` (~19.5k, 1-3 per customer): ``account_id``, ``customer_id`` BIGINT,
  ``account_type`` VARCHAR (current, savings, credit_card), ``iban`` VARCHAR (NULL for cards),
  ``currency`` VARCHAR (GBP, EUR), ``opened_date``, ``closed_date`` DATE (NULL while open),
  ``status`` VARCHAR (open, closed), ``monthly_fee`` DECIMAL(8,2), ``credit_limit``
  DECIMAL(12,2) (cards only), ``balance`` DECIMAL(14,2) on 2026-06-30 (negative on cards: owed).
- ``transactions`` (~1M): ``transaction_id``, ``account_id``, ``customer_id`` BIGINT, ``ts``
  TIMESTAMP, ``amount`` DECIMAL(12,2) (negative = money out), ``currency``,
  ``merchant_category`` (groceries, ..., transfer, salary, housing, bank_fees), ``channel``
  VARCHAR, ``is_fee`` BOOLEAN (monthly account fees and penalty fees).
- ``support_tickets`` (~17k): ``ticket_id``, ``customer_id`` BIGINT, ``opened_at`` TIMESTAMP,
  ``category`` (complaint, fee_dispute, card_issue, login_problem, fraud_report,
  general_inquiry), ``channel``, ``priority`` VARCHAR, ``resolved_at`` TIMESTAMP (NULL while
  open), ``satisfaction`` SMALLINT 1-5 (NULL when not answered).
- ``churn_labels`` (~180k): ``customer_id`` BIGINT, ``month`` DATE (first of month), ``churned``
  BOOLEAN — one row per month of membership, true in the month the customer left.

Churn follows a hidden per-customer propensity that also raises fees, penalty fees and
complaints; leavers wind their activity down over the preceding months and have no activity
after they leave (see ``_simulation``). ``accounts.closed_date`` reveals churn, as it would in
a real bank: point-in-time features must not look past the month they predict.

Everything is drawn from one NumPy ``Generator`` seeded with ``seed``: the same seed and scale
give the same table contents on the same platform. All tables are written in one transaction
with plain ``CREATE TABLE ... AS SELECT`` so that DuckLake catalogs accept them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from atelier.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    import duckdb
    import numpy as np
    import pyarrow as pa
    from numpy.typing import NDArray

    from atelier.services.demo._accounts import Accounts
    from atelier.services.demo._simulation import Population

TABLES = ("customers", "accounts", "transactions", "support_tickets", "churn_labels")
CUSTOMERS_PER_SCALE = 10_000
TRANSACTIONS_PER_SCALE = 1_000_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

_SELECT: dict[str, tuple[str, str]] = {
    "customers": (
        """
        customer_id::BIGINT AS customer_id, first_name, last_name, email, phone,
        street_address, city, postcode, country, date_of_birth::DATE AS date_of_birth,
        signup_date::DATE AS signup_date, segment""",
        "customer_id",
    ),
    "accounts": (
        """
        account_id::BIGINT AS account_id, customer_id::BIGINT AS customer_id, account_type,
        iban, currency, opened_date::DATE AS opened_date, closed_date::DATE AS closed_date,
        status, (monthly_fee_cents / 100)::DECIMAL(8, 2) AS monthly_fee,
        (credit_limit_cents / 100)::DECIMAL(12, 2) AS credit_limit,
        (balance_cents / 100)::DECIMAL(14, 2) AS balance""",
        "account_id",
    ),
    "transactions": (
        """
        transaction_id::BIGINT AS transaction_id, account_id::BIGINT AS account_id,
        customer_id::BIGINT AS customer_id, ts::TIMESTAMP AS ts,
        (amount_cents / 100)::DECIMAL(12, 2) AS amount, currency, merchant_category, channel,
        is_fee""",
        "transaction_id",
    ),
    "support_tickets": (
        """
        ticket_id::BIGINT AS ticket_id, customer_id::BIGINT AS customer_id,
        opened_at::TIMESTAMP AS opened_at, category, channel, priority,
        resolved_at::TIMESTAMP AS resolved_at, satisfaction::SMALLINT AS satisfaction""",
        "ticket_id",
    ),
    "churn_labels": (
        """
        customer_id::BIGINT AS customer_id, month::DATE AS month, churned""",
        "customer_id, month",
    ),
}


def generate(
    con: duckdb.DuckDBPyConnection,
    *,
    scale: float = 1.0,
    seed: int = 42,
    schema: str = "bank",
    progress: Callable[[str], None] | None = None,
    replace: bool = False,
) -> dict[str, int]:
    """Create the demo bank tables in ``schema`` and return their row counts.

    ``progress`` is called with each step's name (a table name) before the step starts. Existing
    demo tables are a :class:`Conflict` unless ``replace`` is true. Everything is written in one
    transaction on ``con``, which must not have one open.
    """
    import numpy as np

    from atelier.services.demo._accounts import make_accounts
    from atelier.services.demo._simulation import simulate
    from atelier.services.demo._tickets import make_labels, make_tickets
    from atelier.services.demo._transactions import transaction_blocks

    _check(scale, seed, schema)
    step = progress or (lambda _name: None)
    rng = np.random.default_rng(seed)
    n_customers = max(1, round(CUSTOMERS_PER_SCALE * scale))
    pop = simulate(rng, n_customers)
    accounts = make_accounts(rng, pop)

    counts: dict[str, int] = {}
    con.begin()
    try:
        existing = _existing_tables(con, schema)
        if existing and not replace:
            raise Conflict(
                f"schema {schema!r} already holds demo tables ({', '.join(existing)}); "
                "generate with replace=True to overwrite them, or choose another schema"
            )
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for name in existing:
            con.execute(f'DROP TABLE "{schema}"."{name}"')
        step("customers")
        counts["customers"] = _write(con, schema, "customers", _customers(rng, pop))
        step("accounts")
        counts["accounts"] = _write(con, schema, "accounts", _accounts(pop, accounts))
        step("transactions")
        blocks = transaction_blocks(rng, pop, accounts, TRANSACTIONS_PER_SCALE * scale)
        counts["transactions"] = 0
        for i, block in enumerate(blocks):
            counts["transactions"] += _write(con, schema, "transactions", block, append=i > 0)
        step("support_tickets")
        counts["support_tickets"] = _write(con, schema, "support_tickets", make_tickets(rng, pop))
        step("churn_labels")
        counts["churn_labels"] = _write(con, schema, "churn_labels", make_labels(pop))
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return counts


def _check(scale: float, seed: int, schema: str) -> None:
    if not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise InvalidInput(f"demo scale must be a positive number, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"demo seed must be a non-negative integer, got {seed!r}")
    if not _IDENTIFIER.fullmatch(schema):
        raise InvalidInput(
            f"demo schema name {schema!r} is not a plain identifier (letters, digits, _)"
        )


def _existing_tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = ?",
        [schema],
    ).fetchall()
    present = {row[0] for row in rows}
    return [name for name in TABLES if name in present]


def _write(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    data: pa.Table,
    *,
    append: bool = False,
) -> int:
    columns, order = _SELECT[name]
    view = f"_atelier_demo_{name}"
    target = f'"{schema}"."{name}"'
    head = f"INSERT INTO {target}" if append else f"CREATE TABLE {target} AS"
    con.register(view, data)
    try:
        con.execute(f"{head} SELECT {columns} FROM {view} ORDER BY {order}")
    finally:
        con.unregister(view)
    return int(data.num_rows)


def _names(values: tuple[str, ...], codes: NDArray[np.int64]) -> list[str]:
    import numpy as np

    names: list[str] = np.asarray(values, dtype=object)[codes].tolist()
    return names


def _customers(rng: np.random.Generator, pop: Population) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    from atelier.services.demo._people import COUNTRIES, make_people
    from atelier.services.demo._simulation import SEGMENTS, WINDOW_DAYS, WINDOW_START

    people = make_people(rng, pop.country)
    start = np.datetime64(WINDOW_START, "D")
    return pa.table(
        {
            "customer_id": np.arange(1, pop.n + 1, dtype=np.int64),
            "first_name": people.first_name,
            "last_name": people.last_name,
            "email": people.email,
            "phone": people.phone,
            "street_address": people.street_address,
            "city": people.city,
            "postcode": people.postcode,
            "country": _names(COUNTRIES, pop.country),
            "date_of_birth": start + (WINDOW_DAYS - 1 - pop.age_days),
            "signup_date": start + pop.signup_day,
            "segment": _names(SEGMENTS, pop.segment),
        }
    )


def _accounts(pop: Population, acc: Accounts) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    from atelier.services.demo._accounts import ACCOUNT_TYPES, NONE
    from atelier.services.demo._people import CURRENCIES
    from atelier.services.demo._simulation import WINDOW_DAYS, WINDOW_START

    start = np.datetime64(WINDOW_START, "D")
    closed = acc.close_day < WINDOW_DAYS
    return pa.table(
        {
            "account_id": acc.account_id,
            "customer_id": acc.owner + 1,
            "account_type": _names(ACCOUNT_TYPES, acc.account_type),
            "iban": pa.array(acc.iban, pa.string()),
            "currency": _names(CURRENCIES, pop.country[acc.owner]),
            "opened_date": start + acc.open_day,
            "closed_date": pa.array(start + acc.close_day, mask=~closed),
            "status": np.where(closed, "closed", "open").tolist(),
            "monthly_fee_cents": acc.monthly_fee,
            "credit_limit_cents": pa.array(acc.credit_limit, mask=acc.credit_limit == NONE),
            "balance_cents": acc.balance,
        }
    )

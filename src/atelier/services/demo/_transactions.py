"""Transactions of the demo bank, drawn block by block of customers to bound memory.

Five kinds of rows: everyday spending and transfers (Poisson counts per customer-month that
follow the latent intensity, so they decline before churn), monthly salaries and rent or
mortgage payments of salaried customers (which move away as a customer winds down), monthly
account fees, and penalty fees (overdraft, late payment, returned direct debit, foreign ATM),
whose counts come from the churn simulation.
The rate of everyday rows is calibrated so that the table holds about ``target`` rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atelier.services.demo._accounts import CARD, CURRENT, NONE, SAVINGS, Accounts
from atelier.services.demo._people import CURRENCIES
from atelier.services.demo._simulation import MONTHS, WINDOW_START, Population

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from numpy.typing import NDArray

CATEGORIES = (
    "groceries", "restaurants", "transport", "fuel", "utilities", "entertainment", "travel",
    "health", "shopping", "online_services", "cash", "transfer", "salary", "housing", "bank_fees",
)  # fmt: skip
CHANNELS = (
    "card_present", "online", "mobile", "atm", "direct_debit", "bank_transfer", "branch",
    "internal",
)  # fmt: skip

# Everyday rows: category, share, median amount, log-sd, sign, channel mix.
_EVERYDAY: tuple[tuple[str, float, float, float, int, dict[str, float]], ...] = (
    ("groceries", 0.24, 35.0, 0.7, -1, {"card_present": 0.8, "online": 0.2}),
    ("restaurants", 0.13, 22.0, 0.6, -1, {"card_present": 0.85, "online": 0.15}),
    ("transport", 0.08, 9.0, 0.8, -1, {"card_present": 0.5, "mobile": 0.5}),
    ("fuel", 0.05, 55.0, 0.35, -1, {"card_present": 1.0}),
    ("utilities", 0.05, 70.0, 0.5, -1, {"direct_debit": 1.0}),
    ("entertainment", 0.06, 15.0, 0.7, -1, {"online": 0.7, "card_present": 0.3}),
    ("travel", 0.03, 180.0, 0.9, -1, {"online": 1.0}),
    ("health", 0.03, 30.0, 0.8, -1, {"card_present": 0.9, "online": 0.1}),
    ("shopping", 0.10, 45.0, 0.9, -1, {"online": 0.55, "card_present": 0.45}),
    ("online_services", 0.06, 12.0, 0.6, -1, {"online": 1.0}),
    ("cash", 0.06, 60.0, 0.6, -1, {"atm": 0.95, "branch": 0.05}),
    ("transfer", 0.08, 120.0, 0.6, -1, {"mobile": 0.7, "online": 0.2, "branch": 0.1}),
    ("transfer", 0.03, 150.0, 1.0, 1, {"bank_transfer": 1.0}),
)
_TRANSFER_OUT = 11
_CARD_OK = frozenset(range(10)) - {4}  # purchases; utilities stay on the current account
_SAVINGS_OK = frozenset({11, 12})
# Penalty fees: probability, amount in cents (overdraft by segment).
_PENALTY_P = (0.45, 0.2, 0.2, 0.15)
_OVERDRAFT_FEE = (1000, 2500, 2500, 2000)
_PENALTY_FEE = (0, 1200, 1500, 350)
HOURS = (
    0.2, 0.1, 0.05, 0.05, 0.05, 0.2, 0.6, 1.5, 2.5, 3.0, 3.5, 4.5,
    6.0, 5.5, 4.5, 4.5, 5.0, 6.0, 6.5, 5.5, 4.0, 3.0, 2.0, 1.0,
)  # fmt: skip
_CUSTOMERS_PER_BLOCK = 50_000


@dataclass
class _Rows:
    account_id: list[NDArray[np.int64]]
    customer: list[NDArray[np.int64]]
    second: list[NDArray[np.int64]]
    cents: list[NDArray[np.int64]]
    category: list[NDArray[np.int64]]
    channel: list[NDArray[np.int64]]
    is_fee: list[NDArray[np.bool_]]

    def add(
        self,
        account_id: NDArray[np.int64],
        customer: NDArray[np.int64],
        second: NDArray[np.int64],
        cents: NDArray[np.int64],
        category: NDArray[np.int64] | int,
        channel: NDArray[np.int64] | int,
        is_fee: bool,
    ) -> None:
        import numpy as np

        size = len(account_id)
        self.account_id.append(account_id)
        self.customer.append(customer)
        self.second.append(second)
        self.cents.append(cents)
        self.category.append(np.broadcast_to(np.asarray(category, np.int64), size))
        self.channel.append(np.broadcast_to(np.asarray(channel, np.int64), size))
        self.is_fee.append(np.full(size, is_fee))


def pick(u: NDArray[np.float64], probabilities: NDArray[np.float64]) -> NDArray[np.int64]:
    """Index drawn from each row of ``probabilities`` with the uniform ``u``; never a 0 entry."""
    import numpy as np

    cum = np.cumsum(probabilities, axis=1)
    cum[cum >= cum[:, -1:] - 1e-9] = 1.0  # from the last positive entry on: always taken
    index: NDArray[np.int64] = (u[:, None] >= cum).sum(axis=1).astype(np.int64)
    return index


def transaction_blocks(
    rng: np.random.Generator, pop: Population, acc: Accounts, target: float
) -> Iterator[pa.Table]:
    """Yield Arrow tables of transactions, ids increasing across blocks, about ``target`` rows."""
    import numpy as np

    ms = pop.month_start
    frac = (pop.hi - pop.lo) / np.diff(ms)
    salary = _recurring(rng, pop, first_day=24)
    # Rent or mortgage: a fixed share of the salary, the same amount every month.
    housing = _recurring(rng, pop, first_day=0)
    rent = np.round(pop.income * rng.uniform(0.28, 0.42, pop.n), -1)
    charged = (
        (acc.monthly_fee > 0)[:, None]
        & (acc.open_day[:, None] < ms[:-1])
        & (ms[:-1] < acc.close_day[:, None])
    )
    weight = pop.activity[:, None] * pop.intensity * frac
    fixed = salary[0].sum() + housing[0].sum() + charged.sum() + pop.penalty_fees.sum()
    rate = max(target - fixed, 0.1 * target) / max(weight.sum(), 1e-9)
    bank_transfer, direct_debit = CHANNELS.index("bank_transfer"), CHANNELS.index("direct_debit")

    next_id = 1
    for first in range(0, pop.n, _CUSTOMERS_PER_BLOCK):
        block = slice(first, min(first + _CUSTOMERS_PER_BLOCK, pop.n))
        rows = _Rows([], [], [], [], [], [], [])
        _everyday(rng, pop, acc, block, rng.poisson(rate * weight[block]), rows)
        ci, second = _recurring_rows(rng, block, *salary, hour=6)
        amount = pop.income[ci] * (1.0 + 0.02 * rng.standard_normal(len(ci)))
        cents = np.round(amount * 100).astype(np.int64)
        salary_code = CATEGORIES.index("salary")
        rows.add(acc.by_type[ci, CURRENT], ci, second, cents, salary_code, bank_transfer, False)
        ci, second = _recurring_rows(rng, block, *housing, hour=4)
        cents = -np.round(rent[ci] * 100).astype(np.int64)
        housing_code = CATEGORIES.index("housing")
        rows.add(acc.by_type[ci, CURRENT], ci, second, cents, housing_code, direct_debit, False)
        _fees(rng, pop, acc, block, charged, rows)
        table = _table(rows, acc, pop, next_id)
        next_id += table.num_rows
        yield table


def _recurring(
    rng: np.random.Generator, pop: Population, first_day: int
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Monthly payments of salaried customers on one of four days from ``first_day`` on.

    They follow the customer's decline, so salaries and rent move away before churn.
    """

    day = pop.month_start[:-1] + first_day + rng.integers(0, 4, (pop.n, MONTHS))
    happens = (
        (pop.income > 0)[:, None]
        & (pop.lo <= day)
        & (day < pop.hi)
        & (rng.random((pop.n, MONTHS)) < pop.decline)
    )
    return happens, day


def _recurring_rows(
    rng: np.random.Generator,
    block: slice,
    happens: NDArray[np.bool_],
    day: NDArray[np.int64],
    hour: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    import numpy as np

    ci, mi = _expand(happens[block].astype(np.int64), block.start)
    second = day[ci, mi] * 86400 + hour * 3600 + rng.integers(0, 3600, len(ci))
    return ci, second


def _day_and_second(
    rng: np.random.Generator, pop: Population, ci: NDArray[np.int64], mi: NDArray[np.int64]
) -> NDArray[np.int64]:
    import numpy as np

    lo, hi = pop.lo[ci, mi], pop.hi[ci, mi]
    day = lo + np.floor(rng.random(len(ci)) * (hi - lo)).astype(np.int64)
    hour = rng.choice(24, size=len(ci), p=np.asarray(HOURS) / sum(HOURS))
    result: NDArray[np.int64] = day * 86400 + hour * 3600 + rng.integers(0, 3600, len(ci))
    return result


def _expand(counts: NDArray[np.int64], first: int) -> tuple[NDArray[np.int64], ...]:
    import numpy as np

    cell = np.repeat(np.arange(counts.size), counts.ravel())
    return first + cell // MONTHS, cell % MONTHS


def _everyday(
    rng: np.random.Generator,
    pop: Population,
    acc: Accounts,
    block: slice,
    counts: NDArray[np.int64],
    rows: _Rows,
) -> None:
    import numpy as np

    ci, mi = _expand(counts, block.start)
    size = len(ci)
    second = _day_and_second(rng, pop, ci, mi)
    day = second // 86400
    share = np.asarray([row[1] for row in _EVERYDAY])
    kind = rng.choice(len(_EVERYDAY), size=size, p=share / share.sum())
    median = np.asarray([row[2] for row in _EVERYDAY])[kind]
    sigma = np.asarray([row[3] for row in _EVERYDAY])[kind]
    sign = np.asarray([row[4] for row in _EVERYDAY])[kind]
    scale = np.where(kind == _TRANSFER_OUT, 1.0, pop.wealth[ci] ** 0.7)
    # Transfers out move part of the salary elsewhere (savings, family, investments).
    median = np.where(kind == _TRANSFER_OUT, np.maximum(median, 0.6 * pop.income[ci]), median)
    amount = median * np.exp(sigma * rng.standard_normal(size)) * scale
    cash = kind == 10
    amount = np.where(cash, np.maximum(np.round(amount / 10) * 10, 10), np.maximum(amount, 0.5))
    cents = (sign * np.round(amount * 100)).astype(np.int64)
    mix = np.asarray([[row[5].get(c, 0.0) for c in CHANNELS] for row in _EVERYDAY])
    channel = pick(rng.random(size), mix[kind])

    account = acc.by_type[ci, CURRENT]
    u = rng.random(size)
    on_card = (
        np.isin(kind, list(_CARD_OK))
        & (acc.by_type[ci, CARD] != NONE)
        & (day >= acc.opened[ci, CARD])
        & (u < 0.4)
    )
    to_savings = (
        np.isin(kind, list(_SAVINGS_OK))
        & (acc.by_type[ci, SAVINGS] != NONE)
        & (day >= acc.opened[ci, SAVINGS])
        & (u < 0.35)
    )
    account = np.where(on_card, acc.by_type[ci, CARD], account)
    account = np.where(to_savings, acc.by_type[ci, SAVINGS], account)
    category = np.asarray([CATEGORIES.index(row[0]) for row in _EVERYDAY])[kind]
    rows.add(account, ci, second, cents, category, channel, is_fee=False)


def _fees(
    rng: np.random.Generator,
    pop: Population,
    acc: Accounts,
    block: slice,
    charged: NDArray[np.bool_],
    rows: _Rows,
) -> None:
    import numpy as np

    fee_cat, internal = CATEGORIES.index("bank_fees"), CHANNELS.index("internal")
    mine = (acc.owner >= block.start) & (acc.owner < block.stop)
    ai, mi = np.nonzero(charged & mine[:, None])
    second = pop.month_start[mi] * 86400 + 2 * 3600 + acc.account_id[ai] % 3600
    owner = acc.owner[ai]
    rows.add(acc.account_id[ai], owner, second, -acc.monthly_fee[ai], fee_cat, internal, True)

    ci, mi = _expand(pop.penalty_fees[block], block.start)
    second = _day_and_second(rng, pop, ci, mi)
    kind = rng.choice(len(_PENALTY_P), size=len(ci), p=_PENALTY_P)
    card = acc.by_type[ci, CARD]
    late_on_card = (kind == 1) & (card != NONE) & (second // 86400 >= acc.opened[ci, CARD])
    kind = np.where((kind == 1) & ~late_on_card, 0, kind)
    cents = np.where(
        kind == 0, np.asarray(_OVERDRAFT_FEE)[pop.segment[ci]], np.asarray(_PENALTY_FEE)[kind]
    )
    account = np.where(late_on_card, card, acc.by_type[ci, CURRENT])
    rows.add(account, ci, second, -cents, fee_cat, internal, is_fee=True)


def _table(rows: _Rows, acc: Accounts, pop: Population, first_id: int) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    account_id = np.concatenate(rows.account_id)
    second = np.concatenate(rows.second)
    cents = np.concatenate(rows.cents)
    order = np.lexsort((cents, account_id, second))
    customer = np.concatenate(rows.customer)[order]

    def decode(codes: NDArray[np.int64], names: tuple[str, ...]) -> pa.Array:
        indices = pa.array(codes.astype(np.int8))
        return pa.DictionaryArray.from_arrays(indices, pa.array(names)).dictionary_decode()

    return pa.table(
        {
            "transaction_id": np.arange(first_id, first_id + len(order), dtype=np.int64),
            "account_id": account_id[order],
            "customer_id": customer + 1,
            "ts": np.datetime64(WINDOW_START, "s") + second[order],
            "amount_cents": cents[order],
            "currency": decode(pop.country[customer], CURRENCIES),
            "merchant_category": decode(np.concatenate(rows.category)[order], CATEGORIES),
            "channel": decode(np.concatenate(rows.channel)[order], CHANNELS),
            "is_fee": np.concatenate(rows.is_fee)[order],
        }
    )

"""Accounts of the demo bank: a current account for everyone, maybe savings and a credit card.

Fees depend on segment and on the plan's fee tier (which the latent propensity pushes up);
every account of a churned customer closes on the day the customer leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from atelier.services.demo._people import make_ibans
from atelier.services.demo._simulation import WINDOW_DAYS, Population

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Ints = NDArray[np.int64]

ACCOUNT_TYPES = ("current", "savings", "credit_card")
CURRENT, SAVINGS, CARD = 0, 1, 2
NONE = -1

# Monthly fee of the current account in cents, by segment and fee tier.
_CURRENT_FEE = ((0, 0, 0), (0, 300, 650), (0, 800, 1400), (1500, 2200, 3000))
_SEG_SAVINGS = (0.30, 0.45, 0.70, 0.85)
_SEG_CARD = (0.25, 0.50, 0.75, 0.90)
_SEG_CREDIT_LIMIT = (500.0, 2500.0, 6000.0, 15000.0)


@dataclass(frozen=True)
class Accounts:
    """One row per account, sorted by customer then type; ids are 1-based positions."""

    account_id: Ints
    owner: Ints  # customer index (customer_id - 1)
    account_type: Ints
    open_day: Ints
    close_day: Ints  # WINDOW_DAYS while open
    monthly_fee: Ints  # cents
    credit_limit: Ints  # cents, NONE unless a credit card
    balance: Ints  # cents on WINDOW_END (0 once closed)
    iban: list[str | None]  # credit cards have none
    # Per customer: the account id of each type (NONE when absent) and the day it opened.
    by_type: Ints  # n x 3
    opened: Ints  # n x 3


def make_accounts(rng: np.random.Generator, pop: Population) -> Accounts:
    """Draw the accounts of every customer of ``pop``."""
    import numpy as np

    n, seg = pop.n, pop.segment
    last_day = np.minimum(pop.churn_day, WINDOW_DAYS) - 1
    opened = np.empty((n, 3), np.int64)
    opened[:, CURRENT] = pop.signup_day
    opened[:, SAVINGS] = pop.signup_day + rng.integers(0, 600, n)
    opened[:, CARD] = pop.signup_day + rng.integers(0, 400, n)
    has = np.empty((n, 3), bool)
    has[:, CURRENT] = True
    has[:, SAVINGS] = (rng.random(n) < np.asarray(_SEG_SAVINGS)[seg]) & (opened[:, 1] <= last_day)
    has[:, CARD] = (rng.random(n) < np.asarray(_SEG_CARD)[seg]) & (opened[:, 2] <= last_day)

    owner, kind = np.nonzero(has)  # row-major: by customer, then by type
    count = len(owner)
    account_id = np.arange(1, count + 1, dtype=np.int64)
    by_type = np.full((n, 3), NONE, np.int64)
    by_type[owner, kind] = account_id

    tier = pop.fee_tier[owner]
    fee = np.where(kind == CURRENT, np.asarray(_CURRENT_FEE)[seg[owner], tier], 0)
    fee = np.where((kind == CARD) & (tier > 0) & (seg[owner] != 3), 250, fee)
    limit = np.round(np.asarray(_SEG_CREDIT_LIMIT)[seg[owner]] * rng.lognormal(0, 0.3, count), -2)
    limit = np.maximum(limit, 500.0)
    credit_limit = np.where(kind == CARD, limit * 100, NONE).astype(np.int64)

    income = np.maximum(pop.income[owner], 800.0)
    overdrawn = rng.random(count) < 1.0 / (1.0 + np.exp(2.2 - 0.5 * pop.z[owner]))
    current = np.where(
        overdrawn,
        -rng.uniform(20.0, 800.0, count),
        income * rng.lognormal(-0.7, 0.9, count),
    )
    savings = pop.wealth[owner] * 4000.0 * rng.lognormal(0.0, 1.2, count)
    card = -limit * rng.beta(1.5, 4.0, count)
    balance = np.choose(kind, [current, savings, card])
    close_day = pop.churn_day[owner]
    balance = np.where(close_day < WINDOW_DAYS, 0.0, np.round(balance * 100))

    return Accounts(
        account_id=account_id,
        owner=owner.astype(np.int64),
        account_type=kind.astype(np.int64),
        open_day=opened[owner, kind],
        close_day=close_day,
        monthly_fee=fee.astype(np.int64),
        credit_limit=credit_limit,
        balance=balance.astype(np.int64),
        iban=[
            None if k == CARD else iban
            for k, iban in zip(kind.tolist(), make_ibans(rng, pop.country[owner]), strict=True)
        ],
        by_type=by_type,
        opened=opened,
    )

"""Support tickets and monthly churn labels of the demo bank.

Complaint and fee-dispute counts come straight from the churn simulation (they drive the
hazard); the other categories are background noise. Labels hold one row per customer and month
in which the customer was a customer, up to and including the month they left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atelier.services.demo._simulation import MONTHS, WINDOW_DAYS, WINDOW_START, Population
from atelier.services.demo._transactions import pick

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

TICKET_CATEGORIES = (
    "complaint", "fee_dispute", "card_issue", "login_problem", "fraud_report", "general_inquiry",
)  # fmt: skip
PRIORITIES = ("low", "medium", "high", "urgent")
TICKET_CHANNELS = ("phone", "email", "chat", "branch")
_OTHER_SPLIT = (0.35, 0.25, 0.10, 0.30)  # card_issue .. general_inquiry
_PRIORITY = (
    (0.10, 0.50, 0.35, 0.05),
    (0.20, 0.60, 0.20, 0.00),
    (0.20, 0.50, 0.25, 0.05),
    (0.40, 0.50, 0.10, 0.00),
    (0.00, 0.10, 0.40, 0.50),
    (0.70, 0.30, 0.00, 0.00),
)
_RESOLVE_HOURS = (60.0, 48.0, 20.0, 6.0, 10.0, 12.0)
_SATISFACTION = (2.6, 2.8, 3.8, 3.9, 3.6, 4.2)
_OFFICE_HOURS = (0, 0, 0, 0, 0, 0, 0, 1, 3, 5, 6, 6, 5, 5, 6, 6, 5, 4, 3, 2, 1, 1, 0, 0)


def make_tickets(rng: np.random.Generator, pop: Population) -> pa.Table:
    """Support tickets, ids in order of opening."""
    import numpy as np
    import pyarrow as pa

    counts = pop.complaints + pop.fee_disputes + pop.other_tickets
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    ci, mi = cell // MONTHS, cell % MONTHS
    # Within a cell, the first rows are its complaints, then disputes, then the rest.
    rank = np.arange(len(cell)) - np.repeat(
        np.cumsum(counts.ravel()) - counts.ravel(), counts.ravel()
    )
    n_complaints = pop.complaints[ci, mi]
    n_disputes = pop.fee_disputes[ci, mi]
    other = 2 + rng.choice(len(_OTHER_SPLIT), size=len(cell), p=_OTHER_SPLIT)
    category = np.where(
        rank < n_complaints, 0, np.where(rank < n_complaints + n_disputes, 1, other)
    )

    lo, hi = pop.lo[ci, mi], pop.hi[ci, mi]
    day = lo + np.floor(rng.random(len(cell)) * (hi - lo)).astype(np.int64)
    hours = np.asarray(_OFFICE_HOURS, np.float64)
    opened = day * 86400 + rng.choice(24, size=len(cell), p=hours / hours.sum()) * 3600
    opened += rng.integers(0, 3600, len(cell))
    order = np.lexsort((category, ci, opened))
    ci, category, opened = ci[order], category[order], opened[order]
    size = len(ci)

    priority = pick(rng.random(size), np.asarray(_PRIORITY)[category])
    channel = rng.choice(len(TICKET_CHANNELS), size=size, p=(0.4, 0.25, 0.25, 0.1))
    hours_taken = np.asarray(_RESOLVE_HOURS)[category] * rng.lognormal(0.0, 0.9, size)
    resolved = opened + np.round(hours_taken * 3600).astype(np.int64)
    open_still = (rng.random(size) < 0.03) | (resolved >= WINDOW_DAYS * 86400)
    score = (
        np.asarray(_SATISFACTION)[category]
        - 0.4 * pop.z[ci]
        + 0.7 * rng.standard_normal(size)
        - 0.3 * (hours_taken > 72)
    )
    answered = ~open_still & (rng.random(size) < 0.6)
    start = np.datetime64(WINDOW_START, "s")

    def names(codes: np.typing.NDArray[np.int64], values: tuple[str, ...]) -> pa.Array:
        return pa.array(np.asarray(values, dtype=object)[codes].tolist(), pa.string())

    return pa.table(
        {
            "ticket_id": np.arange(1, size + 1, dtype=np.int64),
            "customer_id": ci + 1,
            "opened_at": start + opened,
            "category": names(category, TICKET_CATEGORIES),
            "channel": names(channel, TICKET_CHANNELS),
            "priority": names(priority, PRIORITIES),
            "resolved_at": pa.array(start + resolved, mask=open_still),
            "satisfaction": pa.array(
                np.clip(np.round(score), 1, 5).astype(np.int16), mask=~answered
            ),
        }
    )


def make_labels(pop: Population) -> pa.Table:
    """One row per customer-month of membership; ``churned`` in the month the customer left."""
    import numpy as np
    import pyarrow as pa

    m_idx = np.arange(MONTHS)
    member = (m_idx >= pop.start_month[:, None]) & (m_idx <= pop.churn_month[:, None])
    ci, mi = np.nonzero(member)
    months = np.arange("2024-07", "2026-07", dtype="datetime64[M]").astype("datetime64[D]")
    return pa.table(
        {
            "customer_id": ci.astype(np.int64) + 1,
            "month": months[mi],
            "churned": pop.churn_month[ci] == mi,
        }
    )

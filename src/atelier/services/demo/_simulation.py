"""The latent side of the demo bank: who the customers are and when they leave.

Every customer gets a hidden dissatisfaction propensity ``z`` (standard normal). It raises the
chance of a fee-heavy plan, of penalty fees and of complaints; each month an active customer
churns with a probability that grows with ``z``, the plan's fee tier, complaints and penalty
fees of the previous three months, and a short tenure. Customers who are about to churn wind
down first: their activity decays over the months before they leave (a minority leave
abruptly), and nothing happens after the day they leave. The observable tables are all drawn
from these arrays, so churn is predictable from them but never trivially so.

Days are counted from ``WINDOW_START`` (day 0); month ``m`` spans
``month_start[m] <= day < month_start[m + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Floats = NDArray[np.float64]
    Ints = NDArray[np.int64]
    Bools = NDArray[np.bool_]

WINDOW_START = "2024-07-01"
WINDOW_END = "2026-06-30"
MONTHS = 24
WINDOW_DAYS = 730

SEGMENTS = ("student", "mass", "affluent", "premier")
SEGMENT_WEIGHTS = (0.12, 0.58, 0.22, 0.08)
_SEG_ACTIVITY = (0.9, 1.0, 1.25, 1.5)
_SEG_WEALTH = (0.6, 1.0, 1.6, 2.6)
_SEG_SALARIED = (0.3, 0.85, 0.92, 0.9)
_SEG_INCOME = (700.0, 2300.0, 4800.0, 9500.0)
_SEG_PENALTY_RATE = (0.20, 0.12, 0.05, 0.03)
_SEG_HAZARD = (0.25, 0.0, -0.1, -0.3)
# January first; a bit of December spending, quiet early-year months.
_SEASON = (0.92, 0.88, 0.97, 0.98, 1.0, 1.02, 1.05, 1.05, 0.99, 1.0, 1.04, 1.22)
_HAZARD_INTERCEPT = -5.1


@dataclass(frozen=True)
class Population:
    """Per-customer (length ``n``) and per-customer-month (``n`` x ``MONTHS``) arrays."""

    n: int
    month_start: Ints  # MONTHS + 1 day offsets, the last one is WINDOW_DAYS
    country: Ints
    segment: Ints
    z: Floats  # latent dissatisfaction propensity
    activity: Floats  # relative transaction intensity
    wealth: Floats  # scale of amounts
    income: Floats  # monthly salary, 0 when not salaried
    fee_tier: Ints  # 0 (no fees) .. 2 (most expensive plan of the segment)
    age_days: Ints  # age on WINDOW_END
    signup_day: Ints  # negative before the window
    start_month: Ints  # first month in the window the customer is a customer
    churn_month: Ints  # MONTHS when the customer stays
    churn_day: Ints  # the day the accounts close, WINDOW_DAYS when the customer stays
    lo: Ints  # first active day of each month
    hi: Ints  # one past the last active day (hi == lo when inactive)
    intensity: Floats  # season, trend, ramp-up, dips and the decline before churn
    decline: Floats  # the dips and the decline before churn alone
    complaints: Ints
    fee_disputes: Ints
    other_tickets: Ints
    penalty_fees: Ints


def _sigmoid(x: Floats) -> Floats:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-x))


def simulate(rng: np.random.Generator, n: int) -> Population:
    """Draw ``n`` customers and run the monthly churn process over the window."""
    import numpy as np

    months = np.arange("2024-07", "2026-08", dtype="datetime64[M]").astype("datetime64[D]")
    month_start = (months - np.datetime64(WINDOW_START)).astype(np.int64)
    assert month_start[-1] == WINDOW_DAYS
    month_len = np.diff(month_start)

    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_WEIGHTS).astype(np.int64)
    country = rng.choice(4, size=n, p=(0.40, 0.25, 0.20, 0.15)).astype(np.int64)
    student = segment == 0
    age_years = np.where(student, rng.uniform(18.6, 26.0, n), 19.0 + rng.beta(2.0, 3.2, n) * 66.0)
    age_days = np.floor(age_years * 365.25).astype(np.int64)
    in_window = rng.random(n) < 0.28
    tenure = np.where(
        in_window,
        rng.integers(1, WINDOW_DAYS, n),
        WINDOW_DAYS + (rng.beta(1.2, 2.8, n) * 12 * 365).astype(np.int64),
    )
    # Adults when they signed up: 18 years are at most 6575 days, keep a margin.
    tenure = np.clip(tenure, 1, age_days - 6580)
    signup_day = WINDOW_DAYS - tenure
    start_month = np.searchsorted(month_start, np.maximum(signup_day, 0), side="right") - 1

    z = rng.standard_normal(n)
    seg = np.asarray
    activity = rng.lognormal(0.0, 0.45, n) * seg(_SEG_ACTIVITY)[segment]
    wealth = seg(_SEG_WEALTH)[segment] * rng.lognormal(0.0, 0.25, n)
    salaried = rng.random(n) < seg(_SEG_SALARIED)[segment]
    income = np.where(
        salaried, np.round(seg(_SEG_INCOME)[segment] * rng.lognormal(0.0, 0.3, n), -1), 0.0
    )
    tier_1 = rng.random(n) < _sigmoid(0.9 * z - 0.2)
    tier_2 = tier_1 & (rng.random(n) < _sigmoid(0.9 * z - 0.9))
    fee_tier = np.where(student, 0, tier_1.astype(np.int64) + tier_2)

    shape = (n, MONTHS)
    complaints = np.zeros(shape, np.int64)
    disputes = np.zeros(shape, np.int64)
    others = np.zeros(shape, np.int64)
    penalties = np.zeros(shape, np.int64)
    churn_month = np.full(n, MONTHS, np.int64)
    churn_day = np.full(n, WINDOW_DAYS, np.int64)
    alive = np.ones(n, bool)
    penalty_rate = seg(_SEG_PENALTY_RATE)[segment] * np.exp(0.5 * z)
    complaint_rate = 0.02 * np.exp(0.7 * z)
    base_logit = _HAZARD_INTERCEPT + 0.8 * z + 0.35 * fee_tier + seg(_SEG_HAZARD)[segment]
    for m in range(MONTHS):
        active = alive & (start_month <= m)
        first_day = np.maximum(signup_day, month_start[m])
        frac = np.where(active, (month_start[m + 1] - first_day) / month_len[m], 0.0)
        penalties[:, m] = rng.poisson(penalty_rate * frac)
        disputes[:, m] = rng.binomial(penalties[:, m], 0.15)
        after_fee = 1.0 + (penalties[:, m - 1] > 0 if m else 0)
        complaints[:, m] = rng.poisson(complaint_rate * frac * after_fee)
        others[:, m] = rng.poisson(0.05 * frac)
        past = slice(max(0, m - 3), m)
        grievances = (complaints[:, past] + disputes[:, past]).sum(axis=1)
        now = complaints[:, m] + disputes[:, m]
        new_customer = (month_start[m] - signup_day) < 183
        logit = (
            base_logit
            + 0.45 * np.minimum(grievances, 3)
            + 0.5 * np.minimum(now, 2)
            + 0.12 * np.minimum(penalties[:, past].sum(axis=1), 6)
            + 0.4 * new_customer
        )
        leaves = active & (signup_day < month_start[m]) & (rng.random(n) < _sigmoid(logit))
        day = month_start[m] + rng.integers(1, month_len[m], n)
        churn_month[leaves] = m
        churn_day[leaves] = day[leaves]
        alive &= ~leaves

    m_idx = np.arange(MONTHS)
    in_months = (m_idx >= start_month[:, None]) & (m_idx <= churn_month[:, None])
    lo = np.maximum(month_start[:-1], signup_day[:, None])
    hi = np.where(in_months, np.minimum(month_start[1:], churn_day[:, None]), lo)

    calendar = (m_idx + 6) % 12  # the window starts in July
    season = np.asarray(_SEASON)[calendar] * (1.0 + 0.04 * m_idx / 12)
    since_signup = np.maximum(m_idx - start_month[:, None], 0)
    ramp = np.where((signup_day >= 0)[:, None], 1.0 - 0.45 * np.exp(-since_signup / 1.2), 1.0)
    dips = np.where(rng.random(shape) < 0.025, rng.uniform(0.25, 0.7, shape), 1.0)
    abrupt = rng.random(n) < 0.2
    amplitude = np.where(abrupt, rng.uniform(0.0, 0.2, n), rng.uniform(0.45, 0.95, n))
    to_go = np.maximum(churn_month[:, None] - 1 - m_idx, 0)
    wind_down = np.where(
        (churn_month < MONTHS)[:, None], 1.0 - amplitude[:, None] * np.exp(-to_go / 1.4), 1.0
    )
    decline = dips * wind_down
    return Population(
        n=n,
        month_start=month_start,
        country=country,
        segment=segment,
        z=z,
        activity=activity,
        wealth=wealth,
        income=income,
        fee_tier=fee_tier,
        age_days=age_days,
        signup_day=signup_day,
        start_month=start_month,
        churn_month=churn_month,
        churn_day=churn_day,
        lo=lo,
        hi=hi,
        intensity=season * ramp * decline,
        decline=decline,
        complaints=complaints,
        fee_disputes=disputes,
        other_tickets=others,
        penalty_fees=penalties,
    )

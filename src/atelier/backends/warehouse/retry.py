"""Retry with exponential backoff and full jitter for writes that lose a race.

Several processes writing to one DuckLake see "database is locked" (SQLite catalog) or a
transaction conflict (any catalog). Both mean "nothing was committed, try again", so the whole
transaction is re-run; jitter keeps the retrying processes from colliding in lockstep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from atelier.backends.warehouse.errors import WarehouseError

T = TypeVar("T")

# Lower-cased fragments of DuckDB / SQLite / PostgreSQL messages that mean "lost a race".
TRANSIENT_MARKERS = (
    "database is locked",
    "database table is locked",
    "sqlite_busy",
    # Not a bare "conflict": ON CONFLICT mistakes are the user's and must fail at once.
    "transaction conflict",
    "write-write conflict",
    "conflict on tuple",
    "for conflict resolution",
    "could not serialize access",
    "deadlock detected",
    # DuckLake gave up its own commit retries: another writer took the snapshot id first
    # (on PostgreSQL this surfaces as a duplicate key on ducklake_snapshot).
    "exceeded the maximum retry count",
    "ducklake_snapshot_pkey",
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all, delays of up to ``base * 2**n`` capped at ``cap``."""

    attempts: int = 40
    base_delay: float = 0.02
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2**attempt))


DEFAULT_POLICY = RetryPolicy()


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a lost race that a retry can win."""
    import duckdb

    if not isinstance(error, duckdb.Error):
        return False
    message = str(error).lower()
    return any(marker in message for marker in TRANSIENT_MARKERS)


def retry(
    fn: Callable[[], T],
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds, a non-transient error occurs, or attempts run out."""
    attempts = max(1, policy.attempts)
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as error:
            if not is_transient(error):
                raise
            if attempt + 1 >= attempts:
                raise WarehouseError(
                    f"the warehouse stayed busy with other writers through {attempts} attempts; "
                    "nothing was changed, try again"
                ) from error
        sleep(policy.delay(attempt))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

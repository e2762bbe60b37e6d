"""Retries: lost races are retried with growing, jittered delays; real errors are not."""

from __future__ import annotations

import duckdb
import pytest

from atelier.backends.warehouse import RetryPolicy, WarehouseError
from atelier.backends.warehouse.retry import is_transient, retry


class Flaky:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


def test_lost_races_are_retried_until_they_succeed() -> None:
    delays: list[float] = []
    fn = Flaky(
        [
            duckdb.TransactionException(
                "Failed to commit DuckLake transaction: database is locked"
            ),
            duckdb.TransactionException("Transaction conflict: cannot update a table"),
            duckdb.IOException("could not serialize access due to concurrent update"),
        ]
    )

    assert retry(fn, RetryPolicy(base_delay=0.1, max_delay=0.3), sleep=delays.append) == "done"

    assert fn.calls == 4
    # Full jitter: each delay lies in [0, min(cap, base * 2**attempt)].
    assert [0 <= d <= limit for d, limit in zip(delays, [0.1, 0.2, 0.3], strict=True)] == [True] * 3


def test_other_errors_are_raised_at_once() -> None:
    fn = Flaky([duckdb.CatalogException("Table with name nope does not exist!")])

    with pytest.raises(duckdb.CatalogException):
        retry(fn, sleep=lambda _: None)
    assert fn.calls == 1


def test_running_out_of_attempts_is_a_clear_error() -> None:
    fn = Flaky([duckdb.TransactionException("database is locked")] * 3)

    with pytest.raises(WarehouseError, match="busy"):
        retry(fn, RetryPolicy(attempts=3), sleep=lambda _: None)
    assert fn.calls == 3


def test_only_duckdb_errors_are_transient() -> None:
    assert is_transient(duckdb.Error("database is locked"))
    assert not is_transient(RuntimeError("database is locked"))
    assert not is_transient(duckdb.ParserException("syntax error"))


def test_ducklake_giving_up_its_own_retries_is_transient() -> None:
    assert is_transient(
        duckdb.TransactionException(
            "Failed to commit DuckLake transaction.\nExceeded the maximum retry count of 10 set "
            "by the ducklake_max_retry_count setting.\nFailed to flush changes into DuckLake: "
            'ERROR:  duplicate key value violates unique constraint "ducklake_snapshot_pkey"'
        )
    )


def test_a_user_on_conflict_mistake_is_not_transient() -> None:
    assert not is_transient(
        duckdb.BinderException("ON CONFLICT clause not yet supported for insertion into DuckLake")
    )

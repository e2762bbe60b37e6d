"""Profile formatting: bounds as people read them, and histograms that show skewed columns."""

import pytest

from atelier.server.pages import data_format as fmt
from atelier.services.profile.model import Bin, ColumnProfile


def column(counts: list[int]) -> ColumnProfile:
    bins = tuple(Bin(low=i * 1000.5, high=(i + 1) * 1000.5, count=c) for i, c in enumerate(counts))
    return ColumnProfile(
        name="income", type="DOUBLE", kind="numeric", count=sum(counts), nulls=0,
        distinct=None, distinct_exact=False, histogram=bins,
    )  # fmt: skip


def test_bounds_read_as_numbers_and_times() -> None:
    assert fmt.bound(288309.5) == "288,309.5"
    assert fmt.bound("2026-12-06T01:45:26.123456") == "2026-12-06 01:45:26"
    assert fmt.bound("2026-12-06") == "2026-12-06"
    assert fmt.bound("not a time at all") == "not a time at all"


def test_skewed_histogram_is_readable_on_a_log_scale() -> None:
    skewed = column([100_000, 12, 5, 3, 0, 1])
    assert fmt.skewed(skewed)
    linear = fmt.bars(skewed)
    log = fmt.bars(skewed, "log")
    # Linear: the tail is flat against the axis; log: every non-empty bar can be seen.
    assert linear[0].height == pytest.approx(fmt.HEIGHT - 2)
    assert max(b.height for b in linear[1:]) < 0.5
    assert all(b.height > 5 for b, n in zip(log, [1, 12, 5, 3, 0, 1], strict=True) if n)
    assert log[4].height == 0
    # Labels keep the real counts and readable bounds.
    assert linear[0].label == log[0].label == "0 to 1,000.5: 100,000"


def test_even_histogram_is_not_skewed_and_scale_is_checked() -> None:
    assert not fmt.skewed(column([10, 12, 9, 11]))
    assert not fmt.skewed(column([500, 0, 0, 11]))
    assert fmt.skewed(column([997, 0, 0, 3]))  # two bars, one of them a sliver
    with pytest.raises(ValueError, match="unknown histogram scale 'sqrt'"):
        fmt.bars(column([1, 2, 3]), "sqrt")

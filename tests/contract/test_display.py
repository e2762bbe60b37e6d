"""How numbers and times read in the portal and the CLI."""

import datetime as dt
from decimal import Decimal

import pytest

from atelier.contract.display import number, size, timestamp


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (288309.5, "288,309.5"),  # the standard deviation that once read "288,31"
        (1234567.891, "1,234,567.9"),
        (-288309.5, "-288,309.5"),
        (3.141592653589793, "3.14159"),  # six significant digits, not fifteen
        (0.1 + 0.2, "0.3"),
        (0.123456789, "0.123457"),
        (0.00123456, "0.00123456"),
        (100.0, "100"),
        (12.5, "12.5"),
        (1234567, "1,234,567"),
        (0, "0"),
        (0.0, "0"),
        (1e-7, "1e-7"),
        (2.5e18, "2.5e18"),
        (Decimal("1234.5"), "1,234.5"),
        (None, "—"),
        ("text", "text"),
        (True, "True"),
        (float("nan"), "nan"),
    ],
)
def test_number(value: object, text: str) -> None:
    assert number(value) == text


def test_number_digits_are_significant_after_the_whole_part() -> None:
    assert number(0.87654321, 4) == "0.8765"
    assert number(288309.54321, 4) == "288,309.5"  # whole digits are never rounded away


def test_timestamps_to_the_second_without_microsecond_noise() -> None:
    at = dt.datetime(2026, 12, 6, 1, 45, 26, 123456)
    assert timestamp(at) == "2026-12-06 01:45:26"
    assert number(at) == "2026-12-06 01:45:26"
    assert timestamp(at, precise=True) == "2026-12-06 01:45:26.123"
    assert timestamp(at.replace(microsecond=0), precise=True) == "2026-12-06 01:45:26"
    assert timestamp(at.replace(tzinfo=dt.UTC)) == "2026-12-06 01:45:26"
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert timestamp(at.replace(tzinfo=plus2)) == "2026-12-06 01:45:26+02:00"
    assert timestamp(dt.date(2026, 12, 6)) == "2026-12-06"
    assert timestamp(dt.time(1, 2, 3, 500000), precise=True) == "01:02:03.500"


def test_size() -> None:
    assert size(1536) == "1.5 KB"
    assert size(None) == "—"

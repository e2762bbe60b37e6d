"""Profiles checked against values computed by hand, on warehouse tables (now and at a version)
and on source tables."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from atelier.errors import InvalidInput, NotFound
from atelier.services.profile import Bin, kind_of
from atelier.services.workbench import Workbench


def write(wb: Workbench, sql: str) -> None:
    wb.warehouse.run_write(lambda c: c.execute(sql), author="ada")


@pytest.fixture
def small(workbench: Workbench) -> Workbench:
    write(
        workbench,
        """
        CREATE TABLE main.small AS SELECT * FROM (VALUES
            (1, 'a', true,  DATE '2024-01-01', 10.0),
            (2, 'a', false, DATE '2024-01-03', 20.0),
            (3, 'b', true,  DATE '2024-01-05', NULL),
            (4, NULL, true, NULL,              40.0),
            (NULL, 'c', NULL, DATE '2024-01-05', 30.0)
        ) t(n, letter, flag, day, amount)
        """,
    )
    return workbench


def test_small_table_by_hand(small: Workbench) -> None:
    profile = small.profiles.profile("main.small")
    assert profile.table == "main.small" and profile.rows == 5 and profile.version is None

    n = profile.column("n")
    assert (n.kind, n.count, n.nulls, n.distinct, n.distinct_exact) == ("numeric", 4, 1, 4, True)
    assert (n.min, n.max, n.mean) == (1, 4, 2.5)
    assert n.std == pytest.approx(1.2909944, rel=1e-6)  # sample standard deviation of 1..4
    assert n.null_fraction == pytest.approx(0.2)
    # Few integers: one bin per value.
    assert n.histogram == (Bin(1, 2, 1), Bin(2, 3, 1), Bin(3, 4, 1), Bin(4, 5, 1))

    letter = small.profiles.profile("small").column("letter")
    assert letter.kind == "text" and (letter.count, letter.nulls, letter.distinct) == (4, 1, 3)
    assert letter.top_values == (("a", 2), ("b", 1), ("c", 1)) and letter.top_exact
    assert (letter.min, letter.max) == ("a", "c") and letter.histogram == ()

    flag = profile.column("flag")
    assert flag.kind == "boolean" and flag.top_values == ((True, 3), (False, 1))

    day = profile.column("day")
    assert day.kind == "temporal" and (day.min, day.max) == ("2024-01-01", "2024-01-05")
    assert day.top_values[0] == ("2024-01-05", 2) and day.distinct == 3
    # Few days: one bin per day.
    assert [b.count for b in day.histogram] == [1, 0, 1, 0, 2]
    assert day.histogram[0] == Bin("2024-01-01", "2024-01-02", 1)
    assert (day.q25, day.q50, day.q75) == ("2024-01-01", "2024-01-03", "2024-01-05")

    amount = profile.column("amount")
    assert (amount.mean, amount.min, amount.max, amount.nulls) == (25.0, 10.0, 40.0, 1)
    assert (amount.q25, amount.q50, amount.q75) == (10.0, 20.0, 30.0)  # quantile_disc
    assert [b.count for b in amount.histogram if b.count] == [1, 1, 1, 1]
    assert amount.histogram[0].low == 10.0 and amount.histogram[-1].high == 40.0
    json.dumps(profile.as_dict(), allow_nan=False)


def test_many_values_get_bins_and_approximate_top_values(workbench: Workbench) -> None:
    write(
        workbench,
        "CREATE TABLE main.big AS SELECT i AS id, 'user' || i AS name, "
        "TIMESTAMP '2024-01-01' + to_seconds(i) AS at FROM range(20000) r(i)",
    )
    profile = workbench.profiles.profile("main.big")
    ids = profile.column("id")
    assert not ids.distinct_exact and ids.top_values == ()
    assert len(ids.histogram) == 20 and all(b.count == 1000 for b in ids.histogram)
    assert (ids.histogram[0].low, ids.histogram[-1].high) == (0, 19999)
    # Approximate quartiles of a sorted column: within 2% of the truth (a sample of the first
    # rows only would be far off).
    for got, want in zip((ids.q25, ids.q50, ids.q75), (5000, 10000, 15000), strict=True):
        assert abs(got - want) < 400
    names = profile.column("name")
    assert len(names.top_values) == 10 and not names.top_exact
    at = profile.column("at")
    assert sum(b.count for b in at.histogram) == 20000
    middle = datetime.fromisoformat(str(at.q50)) - datetime(2024, 1, 1)
    assert abs(middle.total_seconds() - 10000) < 400
    assert at.histogram[0].low == "2024-01-01T00:00:00"
    json.dumps(profile.as_dict(), allow_nan=False)


def test_a_profile_at_an_earlier_version(small: Workbench) -> None:
    (first,) = small.warehouse.snapshots("small")
    write(small, "INSERT INTO main.small SELECT 100, 'z', false, NULL, 1.0")
    assert small.profiles.profile("main.small").column("n").max == 100
    old = small.profiles.profile("main.small", version=first.snapshot_id)
    assert old.rows == 5 and old.version == first.snapshot_id and old.column("n").max == 4


def test_source_table_profile(workbench: Workbench, tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (price REAL, kind TEXT)")
        db.executemany("INSERT INTO items VALUES (?, ?)", [(1.0, "a"), (3.0, "b"), (None, "a")])
    workbench.sources.add("shop", "sqlite", options={"path": str(path)}, secrets={}, by="ada")
    profile = workbench.profiles.profile("shop.main.items")
    price = profile.column("price")
    assert (profile.rows, price.nulls, price.mean, price.min, price.max) == (3, 1, 2.0, 1.0, 3.0)
    assert profile.column("kind").top_values == (("a", 2), ("b", 1))
    with pytest.raises(InvalidInput, match="only warehouse tables have versions"):
        workbench.profiles.profile("shop.main.items", version=1)


def test_profile_errors(small: Workbench) -> None:
    with pytest.raises(NotFound, match=r"no table main\.nope"):
        small.profiles.profile("main.nope")
    with pytest.raises(InvalidInput, match="at version 999"):
        small.profiles.profile("main.small", version=999)
    with pytest.raises(InvalidInput, match="snapshot number"):
        small.profiles.profile("main.small", version=-1)


def test_odd_columns(workbench: Workbench) -> None:
    write(
        workbench,
        "CREATE TABLE main.odd AS SELECT [1, 2] AS l, 5 AS same, NULL::INT AS nothing, "
        "CASE WHEN i = 0 THEN 'nan'::DOUBLE WHEN i = 1 THEN 'inf'::DOUBLE ELSE i END AS x, "
        "CASE WHEN i = 0 THEN 'nan'::DOUBLE ELSE i * 1e6 END AS y FROM range(1500) r(i)",
    )
    profile = workbench.profiles.profile("main.odd")
    x, y = profile.column("x"), profile.column("y")
    assert (x.count, x.nulls, x.min, x.max) == (1500, 0, 2.0, 1499.0)
    assert x.note == "2 NaN or infinite values are left out of the statistics"
    assert sum(b.count for b in x.histogram) == 1498 and sum(b.count for b in y.histogram) == 1499
    assert profile.column("l").kind == "other" and profile.column("l").histogram == ()
    assert profile.column("same").histogram == (Bin(5, 6, 1500),)
    nothing = profile.column("nothing")
    assert (nothing.count, nothing.nulls, nothing.histogram) == (0, 1500, ())
    json.dumps(profile.as_dict(), allow_nan=False)


def test_kinds() -> None:
    assert [kind_of(t) for t in ("DECIMAL(10,2)", "UBIGINT", "TIMESTAMP WITH TIME ZONE")] == [
        "numeric",
        "numeric",
        "temporal",
    ]
    assert [kind_of(t) for t in ("BOOLEAN", "VARCHAR", "INTEGER[]", "BLOB")] == [
        "boolean",
        "text",
        "other",
        "other",
    ]


def test_a_tagged_source_column_is_profiled_and_sampled_masked(
    workbench: Workbench, tmp_path: Path
) -> None:
    from atelier.services.auth import Principal

    user = workbench.users.create("ada", "admin", "correct horse battery")
    ada = Principal(user.id, user.name, user.role, "token")  # type: ignore[arg-type]
    path = tmp_path / "crm.db"
    raw = ["ann@example.com", "bob@example.org", "ann@example.com"]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (id INTEGER, contact TEXT)")
        db.executemany("INSERT INTO people VALUES (?, ?)", list(enumerate(raw)))
    workbench.sources.add("crm", "sqlite", options={"path": str(path)}, secrets={}, by="ada")
    workbench.pii_tags.confirm(ada, "crm.main.people", "contact", "email")
    for who in (ada, None):
        profile = workbench.profiles.profile("crm.main.people", principal=who)
        contact = profile.column("contact")
        text = json.dumps(profile.as_dict(), default=str)
        assert "example.com" not in text and "example.org" not in text, text
        assert contact.note and "masked" in contact.note
        # Masked values keep their counts: the pseudonym is the same for the same value.
        assert [n for _, n in contact.top_values] == [2, 1]
        assert profile.column("id").max == 2 and profile.column("id").note is None
        detail = workbench.catalog.describe("crm.main.people", principal=who).as_dict()
        assert "example" not in json.dumps(detail["sample"], default=str)

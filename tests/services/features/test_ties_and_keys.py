"""Genuine ties (same feature time, same ``created``) are broken by the feature row alone,
and entity keys of another type than the view's key are refused."""

from __future__ import annotations

import pandas as pd
import pytest

from atelier.errors import InvalidInput
from atelier.services.features import Entity, FeatureStore, FeatureView, Plan
from tests.services.features.conftest import apply, write

PLANS = [
    Plan("asof", "window", False),
    Plan("asof", "window", True),
    Plan("range", "range", False),
    Plan("range", "range", True, one_pass=True),
    Plan("range", "window", False),
]
customer = Entity("customer", ["cid"])


@pytest.fixture
def tied(store: FeatureStore) -> FeatureStore:
    """Per customer, several rows at one time with one ``created`` (genuine ties), some with a
    null ``created``, and rows of other times around them."""
    write(
        store,
        "CREATE SCHEMA s",
        """CREATE TABLE s.tied AS
           SELECT c AS cid, TIMESTAMP '2024-01-05' AS ts, TIMESTAMP '2024-01-06' AS created,
                  (c * 100 + v)::DOUBLE AS v, 'r' || v AS tag
           FROM range(1, 9) a(c), range(6) b(v)
           UNION ALL
           SELECT c, TIMESTAMP '2024-01-07', NULL, (c * 100 + 50 + v)::DOUBLE, 'n' || v
           FROM range(1, 9) a(c), range(4) b(v)
           UNION ALL
           SELECT c, TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-02', -c::DOUBLE, 'old'
           FROM range(1, 9) a(c)""",
    )
    apply(
        store,
        customer,
        FeatureView(
            "tied",
            customer,
            "ts",
            source="s.tied",
            created="created",
            ttl="10d",
            features=["v", "tag"],
        ),
    )
    return store


def _entities(times: list[str], copies: int) -> pd.DataFrame:
    """Every customer at every time, each row repeated ``copies`` times, shuffled so that
    duplicates sit far apart in the frame."""
    rows = [(c, pd.Timestamp(t)) for _ in range(copies) for c in range(1, 9) for t in times]
    frame = pd.DataFrame(rows, columns=["cid", "event_timestamp"])
    return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)


def test_tied_rows_give_duplicates_one_answer_on_every_plan(tied: FeatureStore) -> None:
    entities = _entities(["2024-01-05", "2024-01-06", "2024-01-08"], copies=40)
    answers = []
    for plan in PLANS:
        table = tied.training_set(entities, ["tied:v", "tied:tag"], plan=plan).to_pandas()
        per_row = list(
            zip(table["cid"], table["event_timestamp"], table["v"], table["tag"], strict=True)
        )
        # Duplicates of an entity row agree...
        by_entity: dict[tuple[int, pd.Timestamp], set[tuple[float, str]]] = {}
        for cid, ts, v, tag in per_row:
            by_entity.setdefault((cid, ts), set()).add((v, tag))
        assert all(len(found) == 1 for found in by_entity.values()), plan
        answers.append(per_row)
        # ...and the winner is one of the tied rows of that time, never a mix of two rows.
        for (cid, ts), found in by_entity.items():
            ((v, tag),) = found
            if ts == pd.Timestamp("2024-01-08"):
                assert tag.startswith("n") and v == cid * 100 + 50 + int(tag[1:])
            else:
                assert tag.startswith("r") and v == cid * 100 + int(tag[1:])
    # ...and every plan gives the same answer.
    assert all(answer == answers[0] for answer in answers[1:])


def test_tie_break_does_not_depend_on_the_frame(tied: FeatureStore) -> None:
    """The same entity row alone or among many others gets the same row."""
    alone = pd.DataFrame({"cid": [3], "event_timestamp": [pd.Timestamp("2024-01-06")]})
    crowd = _entities(["2024-01-06"], copies=5)
    one = tied.training_set(alone, ["tied:tag"]).to_pandas()["tag"][0]
    many = tied.training_set(crowd, ["tied:tag"], plan=PLANS[2]).to_pandas()
    assert set(many[many["cid"] == 3]["tag"]) == {one}


@pytest.fixture
def integer_keys(store: FeatureStore) -> FeatureStore:
    write(
        store,
        "CREATE SCHEMA k",
        "CREATE TABLE k.events AS SELECT 1::BIGINT AS cid, TIMESTAMP '2024-01-01' AS ts, 2.5 AS v",
    )
    apply(store, customer, FeatureView("ints", customer, "ts", source="k.events", features=["v"]))
    return store


@pytest.mark.parametrize("key", ["1", "01", "1.0", " 1"])
@pytest.mark.parametrize("plan", [None, PLANS[0], PLANS[2]], ids=["chosen", "asof", "range"])
def test_string_keys_against_integer_keys_are_refused(
    integer_keys: FeatureStore, key: str, plan: Plan | None
) -> None:
    entities = pd.DataFrame({"cid": [key], "event_timestamp": [pd.Timestamp("2024-01-02")]})
    with pytest.raises(InvalidInput, match=r"entity key 'cid' is VARCHAR .* BIGINT .*'ints'"):
        integer_keys.training_set(entities, ["ints:v"], plan=plan)


def test_matching_numeric_keys_still_join(integer_keys: FeatureStore) -> None:
    for cid in ([1], pd.array([1], dtype="int32"), [1.0]):
        entities = pd.DataFrame({"cid": cid, "event_timestamp": [pd.Timestamp("2024-01-02")]})
        assert integer_keys.training_set(entities, ["ints:v"]).to_pandas()["v"].tolist() == [2.5]


def test_string_keys_against_string_keys_join_exactly(store: FeatureStore) -> None:
    write(
        store,
        "CREATE SCHEMA t",
        "CREATE TABLE t.events AS SELECT * FROM (VALUES ('1', TIMESTAMP '2024-01-01', 7.0)) "
        "x(cid, ts, v)",
    )
    apply(store, customer, FeatureView("strs", customer, "ts", source="t.events", features=["v"]))
    entities = pd.DataFrame(
        {"cid": ["1", "01", " 1"], "event_timestamp": [pd.Timestamp("2024-01-02")] * 3}
    )
    got = store.training_set(entities, ["strs:v"]).to_pandas()["v"].tolist()
    assert got[0] == 7.0 and pd.isna(got[1]) and pd.isna(got[2])
    with pytest.raises(InvalidInput, match="entity key 'cid' is BIGINT"):
        store.training_set(
            pd.DataFrame({"cid": [1], "event_timestamp": [pd.Timestamp("2024-01-02")]}),
            ["strs:v"],
        )


def test_chooser_takes_asof_when_range_pairs_outgrow_the_rows() -> None:
    """Row features, ttl 2 days, events over 9 days, 10k keys, 1.68M feature rows: a range
    join for 10k entity rows (few pairs), ASOF for 1M (pairs about 11 times the rows)."""
    from atelier.services.features.engine import Frame, choose_plan

    day = 86_400 * 10**9
    for rows, expected in ((10_000, "range"), (1_000_000, "asof")):
        frame = Frame("f", rows, 0, 9 * day)
        plan = choose_plan(frame, min(rows, 10_000), 1_680_000, 2 * day, 0)
        assert plan.rows == expected, rows
    no_ttl = choose_plan(Frame("f", 10, 0, day), 10, 1_000, None, 0)
    assert no_ttl.rows == "asof"

"""The pieces of a container test's sample that need no workspace: how warehouse values travel
as JSON, which records the signature takes, and how the card says where records came from.
(Gathering them from a real prediction log and training table is in test_images.py.)"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal

from atelier.services.containers import samples
from atelier.services.serving.schema import Column, InputSchema


def test_warehouse_values_travel_as_a_client_would_send_them() -> None:
    assert samples.json_value(Decimal("7.50")) == 7.5
    assert samples.json_value(date(2024, 3, 1)) == "2024-03-01"
    assert samples.json_value(datetime(2024, 3, 1, 9, 30)) == "2024-03-01T09:30:00"
    assert samples.json_value(time(9, 30)) == "09:30:00"
    assert samples.json_value(b"caf\xc3\xa9") == "café"
    assert samples.json_value(math.nan) is None and samples.json_value(math.inf) is None
    assert samples.json_value(3) == 3 and samples.json_value("x") == "x"


def test_only_records_the_signature_takes_are_sent() -> None:
    schema = InputSchema([Column("fees", "double"), Column("note", "string", required=False)])
    assert samples.accepted(schema, {"fees": 1.5})
    assert samples.accepted(schema, {"fees": 1.5, "note": None})
    assert not samples.accepted(schema, {"fees": None})  # a null in a required column
    assert not samples.accepted(schema, {"fees": "high"})
    assert not samples.accepted(schema, {"fees": 1.0, "tenure": 3})  # a field it does not take
    assert samples.accepted(None, {"anything": 1})  # no signature: the model decides


def test_the_card_says_where_the_records_came_from() -> None:
    assert samples.describe({"example": 2, "predictions": 1, "validation": 0}) == (
        "2 of the input example, 1 recent prediction"
    )
    assert samples.describe({"example": 0, "predictions": 20, "validation": 1}) == (
        "20 recent predictions, 1 training row"
    )
    assert samples.describe({"example": 1, "predictions": 0, "validation": 19}) == (
        "1 of the input example, 19 training rows"
    )
    assert samples.describe({}) == ""

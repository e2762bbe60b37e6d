import pytest

from atelier.errors import InvalidInput
from atelier.services.serving import Column, InputSchema, records_from_body

SCHEMA = InputSchema(
    [
        Column("age", "long"),
        Column("fee", "double"),
        Column("segment", "string"),
        Column("card", "boolean"),
        Column("since", "datetime"),
        Column("note", "string", required=False),
    ]
)
GOOD = {"age": 41, "fee": 2, "segment": "mass", "card": True, "since": "2020-01-31"}


def problem(records: list[object]) -> str:
    with pytest.raises(InvalidInput) as caught:
        SCHEMA.validate(records)
    return str(caught.value)


def test_valid_records_become_a_typed_frame() -> None:
    rows = SCHEMA.validate([GOOD, {**GOOD, "age": 30.0, "note": "hi"}])
    frame = SCHEMA.frame(rows)
    assert list(frame.columns) == ["age", "fee", "segment", "card", "since", "note"]
    assert str(frame["age"].dtype) == "int64"
    assert str(frame["fee"].dtype) == "float64"
    assert str(frame["card"].dtype) == "bool"
    assert str(frame["since"].dtype) == "datetime64[ns]"
    assert frame["note"].isna().tolist() == [True, False]


def test_rows_missing_the_same_columns_make_frames_of_the_same_types() -> None:
    complete = SCHEMA.validate([{**GOOD, "note": "hi"}])
    missing = SCHEMA.validate([GOOD])
    assert SCHEMA.missing(complete) == frozenset()
    assert SCHEMA.missing(missing) == SCHEMA.missing([*complete, *missing]) == {"note"}
    assert SCHEMA.dtypes(missing) == SCHEMA.dtypes([*complete, *missing])
    optional = InputSchema([Column("n", "long", required=False)])
    assert optional.dtypes(optional.validate([{"n": 1}])) == ["int64"]
    assert optional.dtypes(optional.validate([{"n": 1}, {}])) == ["float64"]


def test_a_missing_column_is_named() -> None:
    record = {k: v for k, v in GOOD.items() if k != "fee"}
    assert "field 'fee' (double) is missing" in problem([record])


def test_a_wrong_type_is_named_with_the_value() -> None:
    message = problem([GOOD, {**GOOD, "age": "forty"}])
    assert message == "record 1: field 'age': expected an integer, got the string 'forty'"
    assert "field 'card': expected a boolean" in problem([{**GOOD, "card": "yes"}])
    assert "field 'since': expected a date" in problem([{**GOOD, "since": "last year"}])
    assert "field 'age': expected an integer, got 1.5" in problem([{**GOOD, "age": 1.5}])


def test_an_extra_field_is_named() -> None:
    assert "unknown field 'agee' (the model takes age, fee" in problem([{**GOOD, "agee": 3}])


def test_null_in_a_required_field_and_non_objects() -> None:
    assert "field 'segment' (string) is null in the input" in problem([{**GOOD, "segment": None}])
    assert "record 1: expected an object" in problem([GOOD, [1, 2]])
    assert "no records" in problem([])


def test_request_bodies_in_every_accepted_shape() -> None:
    assert records_from_body(GOOD) == ([GOOD], False)
    assert records_from_body([GOOD]) == ([GOOD], True)
    assert records_from_body({"records": [GOOD]}) == ([GOOD], True)
    assert records_from_body({"dataframe_records": [GOOD]}) == ([GOOD], True)
    split = {"dataframe_split": {"columns": ["age", "fee"], "data": [[1, 2.0]]}}
    assert records_from_body(split) == ([{"age": 1, "fee": 2.0}], True)
    with pytest.raises(InvalidInput, match="row 0 has 1 values for 2 columns"):
        records_from_body({"dataframe_split": {"columns": ["age", "fee"], "data": [[1]]}})

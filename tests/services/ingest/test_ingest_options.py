"""Options, table names and column types are checked before anything is read."""

from __future__ import annotations

import pytest

from atelier.errors import InvalidInput
from atelier.services.ingest import Options, TableName
from atelier.services.ingest.options import column_type


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("bigint", "BIGINT"),
        ("int", "INTEGER"),
        ("text", "VARCHAR"),
        ("timestamptz", "TIMESTAMP WITH TIME ZONE"),
        ("timestamp  with time zone", "TIMESTAMP WITH TIME ZONE"),
        ("decimal(18, 2)", "DECIMAL(18,2)"),
        ("numeric", "DECIMAL(18,3)"),
        ("DECIMAL(10)", "DECIMAL(10,0)"),
        ("bigint[]", "BIGINT[]"),
    ],
)
def test_column_types_are_canonical(given: str, canonical: str) -> None:
    assert column_type(given) == canonical


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "INTEGER; DROP TABLE x",
        "VARCHAR) FROM x --",
        "STRUCT(a INT)",
        "DECIMAL(40,2)",
        "INTEGER(3)",
        "FOO",
    ],
)
def test_other_column_types_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="column type"):
        column_type(bad)


def test_table_names() -> None:
    assert TableName.parse("sales") == TableName("main", "sales")
    assert str(TableName.parse(" finance.Sales_2024 ")) == "finance.Sales_2024"
    for bad in ("a.b.c", "9lives", "has space", "x" * 64, "pg_catalog.t", "a-b", 'a"b'):
        with pytest.raises(InvalidInput):
            TableName.parse(bad)


def test_options_are_parsed_and_checked() -> None:
    options = Options.parse(
        {
            "delimiter": "tab",
            "header": "false",
            "skip": "2",
            "quote": "none",
            "encoding": "Latin1",
            "types": {"a": "int"},
            "sheet": 2,
            "format": "ndjson",
        }
    )
    assert options == Options(
        format="json",
        header=False,
        delimiter="\t",
        quote="",
        encoding="iso8859-1",
        skip=2,
        sheet="2",
        types={"a": "INTEGER"},
    )
    assert Options.parse({"delimiter": ""}) == Options()
    assert Options.parse(None).as_dict() == {}
    assert Options.parse({"header": True, "types": {"a": "DATE"}}).as_dict() == {
        "header": True,
        "types": {"a": "DATE"},
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delimter": ","}, "unknown upload option"),
        ({"delimiter": ",,"}, "delimiter"),
        ({"quote": "''"}, "quote"),
        ({"encoding": "klingon"}, "encoding 'klingon' is unknown"),
        ({"skip": -1}, "skip"),
        ({"skip": "x"}, "skip"),
        ({"header": "perhaps"}, "header must be true or false"),
        ({"types": ["a"]}, "types must map"),
        ({"format": "docx"}, "format 'docx' is not supported"),
    ],
)
def test_bad_options_say_what_is_wrong(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Options.parse(options)

"""The result's chart (a Vega-Lite spec), JSON-safe rows, and one-line error messages."""

from __future__ import annotations

import duckdb
import pytest

from atelier.cli.format import one_line
from atelier.services.query import Column, chart_spec, json_rows
from atelier.services.query.chart import MAX_COLORS, default_axes, default_color, field, vega_type


@pytest.mark.parametrize(
    ("duckdb_type", "expected"),
    [
        ("BIGINT", "quantitative"),
        ("HUGEINT", "quantitative"),
        ("UBIGINT", "quantitative"),
        ("DOUBLE", "quantitative"),
        ("DECIMAL(18,3)", "quantitative"),
        ("DATE", "temporal"),
        ("TIMESTAMP WITH TIME ZONE", "temporal"),
        ("VARCHAR", "nominal"),
        ("BOOLEAN", "nominal"),
        ("INTEGER[]", "nominal"),
    ],
)
def test_vega_types(duckdb_type: str, expected: str) -> None:
    assert vega_type(duckdb_type) == expected


def test_default_axes() -> None:
    text, date = Column("segment", "VARCHAR"), Column("day", "DATE")
    n, m = Column("n", "BIGINT"), Column("avg", "DOUBLE")
    assert default_axes([text, n, m]) == ("segment", "n", "bar")
    assert default_axes([n, date, text]) == ("day", "n", "line")
    assert default_axes([n, m]) == ("n", "avg", "point")
    assert default_axes([text, date]) is None
    assert default_axes([n]) is None


def test_chart_spec_plots_the_rows() -> None:
    columns = [Column("segment", "VARCHAR"), Column("n", "BIGINT")]
    spec = chart_spec(columns, [["retail", 3], ["business", 1]])
    assert spec is not None
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"] == {
        "field": "segment",
        "type": "nominal",
        "title": "segment",
        "sort": None,
    }
    assert spec["encoding"]["y"]["type"] == "quantitative"
    assert spec["data"]["values"] == [
        {"segment": "retail", "n": 3},
        {"segment": "business", "n": 1},
    ]
    switched = chart_spec(columns, [], x="n", y="n", mark="point")
    assert switched is not None and switched["encoding"]["x"]["type"] == "quantitative"
    assert chart_spec(columns, [], mark="pie") is None
    assert chart_spec([Column("s", "VARCHAR")], [["a"]]) is None


def test_a_text_column_with_few_values_colours_the_marks() -> None:
    columns = [Column("day", "DATE"), Column("n", "BIGINT"), Column("segment", "VARCHAR")]
    rows = [["2024-01-01", 1, "retail"], ["2024-01-01", 2, "business"]]
    spec = chart_spec(columns, rows)
    assert spec is not None and spec["mark"]["type"] == "line"
    assert spec["encoding"]["color"] == {"field": "segment", "type": "nominal", "title": "segment"}
    many = [["2024-01-01", i, f"customer {i}"] for i in range(MAX_COLORS + 1)]
    assert default_color(columns, many, "day") is None
    assert default_color(columns, rows, "segment") is None


def test_field_names_with_dots_are_escaped() -> None:
    assert field("a.b[0]") == "a\\.b\\[0\\]"


def test_json_rows() -> None:
    table = duckdb.sql(
        "SELECT 1 AS i, 1.25::DECIMAL(6,2) AS d, DATE '2024-02-29' AS day, "
        "TIMESTAMP '2024-01-01 10:00:00' AS ts, 'nan'::DOUBLE AS f, NULL AS nothing, "
        "INTERVAL 3 DAY AS span, [1, 2] AS list, {'k': 'v'} AS struct"
    ).to_arrow_table()
    assert json_rows(table) == [
        [1, 1.25, "2024-02-29", "2024-01-01T10:00:00", "NaN", None, "3 days", [1, 2], {"k": "v"}]
    ]


def test_one_line_errors_keep_line_and_column() -> None:
    with pytest.raises(duckdb.ParserException) as error:
        duckdb.sql("SELECT 1,\n  FROM WHERE")
    message = one_line(str(error.value))
    assert "\n" not in message
    assert message.startswith("Parser Error: syntax error at or near")
    assert message.endswith("(line 2, column 8)")
    assert one_line("Catalog Error: no\nDid you mean x?") == "Catalog Error: no Did you mean x?"

"""Detection: what a file looks like before it is loaded (the portal's preview)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.errors import InvalidInput
from atelier.services.ingest import Ingest
from tests.services.ingest.conftest import write


def test_csv_dialect_types_and_first_rows(ingest: Ingest, tmp_path: Path) -> None:
    lines = ["id;name;amount;day"] + [
        f"{i};n {i};{i * 1.5};2024-01-{1 + i % 28:02d}" for i in range(50)
    ]
    path = write(tmp_path / "semi.csv", "\n".join(lines) + "\n")
    preview = ingest.detect(path)
    assert preview.file == "semi.csv" and preview.format == "csv"
    assert preview.options == {
        "format": "csv",
        "delimiter": ";",
        "quote": '"',
        "header": True,
        "skip": 0,
        "encoding": "utf-8",
        "decimal": ".",
    }
    assert [(c.name, c.type) for c in preview.columns] == [
        ("id", "BIGINT"),
        ("name", "VARCHAR"),
        ("amount", "DOUBLE"),
        ("day", "DATE"),
    ]
    assert len(preview.rows) == 20
    assert preview.rows[1] == ["1", "n 1", "1.5", "2024-01-02"]
    assert preview.size == path.stat().st_size
    data = preview.as_dict()
    assert data["columns"][0] == {"name": "id", "type": "BIGINT"}
    assert ingest.warehouse.tables() == []


def test_overrides_show_in_the_preview(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "code,v\n007,1\n")
    preview = ingest.detect(path, options={"types": {"code": "VARCHAR", "v": "DOUBLE"}})
    assert [(c.name, c.type) for c in preview.columns] == [("code", "VARCHAR"), ("v", "DOUBLE")]
    assert preview.rows == [["007", "1.0"]]
    assert preview.options["types"] == {"code": "VARCHAR", "v": "DOUBLE"}
    with pytest.raises(InvalidInput, match=r"'x' is not a valid INTEGER"):
        write(tmp_path / "b.csv", "code\n1\nx\n")
        ingest.detect(tmp_path / "b.csv", options={"types": {"code": "INTEGER"}})


def test_encoding_tsv_and_excel_detection(ingest: Ingest, tmp_path: Path) -> None:
    import openpyxl

    (tmp_path / "w.csv").write_bytes("name,price\nCafé,3 €\n".encode("cp1252"))
    preview = ingest.detect(tmp_path / "w.csv")
    assert preview.options["encoding"] == "cp1252"
    assert preview.rows == [["Café", "3 €"]]
    tsv = ingest.detect(write(tmp_path / "t.tsv", "a\tb\n1\t2\n"))
    assert tsv.format == "tsv" and tsv.options["delimiter"] == "\t"
    book = openpyxl.Workbook()
    book.active.title = "First"
    book.active.append(["x"])
    book.active.append([1])
    book.create_sheet("Second")
    book.save(tmp_path / "b.xlsx")
    excel = ingest.detect(tmp_path / "b.xlsx")
    assert excel.format == "xlsx"
    assert excel.options == {
        "format": "xlsx",
        "sheet": "First",
        "sheets": ["First", "Second"],
        "header": True,
        "skip": 0,
    }
    with pytest.raises(InvalidInput, match=r"b.xlsx: sheet 'Second' is empty"):
        ingest.detect(tmp_path / "b.xlsx", options={"sheet": "2"})


def test_parquet_json_and_compressed_csv(ingest: Ingest, tmp_path: Path) -> None:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "p.parquet")
    assert ingest.detect(tmp_path / "p.parquet").options == {"format": "parquet"}
    write(tmp_path / "j.jsonl", '{"a": 1, "b": "x"}\n')
    assert [c.type for c in ingest.detect(tmp_path / "j.jsonl").columns] == ["BIGINT", "VARCHAR"]
    with gzip.open(tmp_path / "c.csv.gz", "wt") as file:
        file.write("a|b\n1|x\n")
    preview = ingest.detect(tmp_path / "c.csv.gz")
    assert preview.options["delimiter"] == "|" and preview.rows == [["1", "x"]]

"""No silent wrong data: files that used to load wrongly (a ragged CSV as its last row with
the header lost, random bytes as a table, a gzip file named .csv as a 500) either load every
row exactly or are refused with the line or the reason, and a refusal leaves no table, no
version and no staged file behind."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile
from pathlib import Path

import pytest

from atelier.errors import InvalidInput
from atelier.services.ingest import Ingest
from tests.services.ingest.conftest import make_ingest, staged_files, write

HEADER = "id,amount,label\n"


@pytest.fixture(scope="module")
def extension_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("duckdb-extensions")


@pytest.fixture
def ingest(tmp_path: Path, extension_dir: Path) -> Ingest:
    return make_ingest(str(tmp_path / "lake.sqlite"), tmp_path, extension_dir)


def rows(count: int, start: int = 0) -> list[str]:
    return [f"{i},{i}.5,r{i}\n" for i in range(start, start + count)]


def refused(ingest: Ingest, path: Path, match: str, **options: str) -> None:
    """The upload is refused with ``match`` in the message and leaves nothing behind."""
    with pytest.raises(InvalidInput, match=match):
        ingest.upload(path, "target", by="eve", options=options or None)
    assert not ingest.warehouse.tables()
    assert staged_files(ingest) == []


def test_a_short_row_at_line_2(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "short.csv", HEADER + "1,1.5\n" + "".join(rows(50, 2)))
    refused(ingest, path, r"short.csv: line 2: expected 3 columns, found 2")


def test_a_long_row_at_line_2(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "long.csv", HEADER + "1,1.5,a,extra\n" + "".join(rows(50, 2)))
    refused(ingest, path, r"long.csv: line 2: expected 3 columns, found 4")


def test_ragged_rows_at_the_end_do_not_eat_the_header(ingest: Ingest, tmp_path: Path) -> None:
    # The sniffer used to skip every line before a long last row: one row, header lost.
    path = write(tmp_path / "tail.csv", "a,b,c\n1,2\n3,4,5\n8,9,10,11\n")
    refused(ingest, path, r"tail.csv: line 2: expected 3 columns, found 2")


@pytest.mark.parametrize(("row", "found"), [("7,7.5\n", 2), ("7,7.5,x,y\n", 4)])
def test_a_ragged_row_at_line_100_000(ingest: Ingest, tmp_path: Path, row: str, found: int) -> None:
    body = [*rows(99_998), row, *rows(20, 99_998)]
    path = write(tmp_path / "deep.csv", HEADER + "".join(body))
    refused(ingest, path, rf"deep.csv: line 100000: expected 3 columns, found {found}")


def test_quoted_newlines_are_not_ragged(ingest: Ingest, tmp_path: Path) -> None:
    text = HEADER + '1,1.5,"two\nlines"\n2,2.5,"a, b"\n3,3.5,"x ""quoted""\n\ny"\n'
    path = write(tmp_path / "quoted.csv", text)
    result = ingest.upload(path, "quoted", by="ada")
    assert result.rows == 3 and result.skipped == 0
    assert ingest.warehouse.read("quoted").to_pylist() == [
        {"id": 1, "amount": 1.5, "label": "two\nlines"},
        {"id": 2, "amount": 2.5, "label": "a, b"},
        {"id": 3, "amount": 3.5, "label": 'x "quoted"\n\ny'},
    ]


def test_ragged_pad_fills_short_rows_and_refuses_long_ones(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "pad.csv", HEADER + '1,1.5\n2,2.5,"b\nc"\n3\n')
    result = ingest.upload(path, "padded", by="ada", options={"ragged": "pad"})
    assert result.rows == 3
    assert ingest.warehouse.read("padded").to_pylist() == [
        {"id": 1, "amount": 1.5, "label": None},
        {"id": 2, "amount": 2.5, "label": "b\nc"},
        {"id": 3, "amount": None, "label": None},
    ]
    long = write(tmp_path / "long.csv", HEADER + "1,1.5,a\n2,2.5,b,extra\n")
    with pytest.raises(InvalidInput, match=r"long.csv: line 3: expected 3 columns, found 4"):
        ingest.upload(long, "padded2", by="ada", options={"ragged": "pad"})


def test_ragged_skip_leaves_ragged_rows_out_and_counts_them(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "skip.csv", HEADER + "1,1.5,a\n2,2.5\n3,3.5,c,d\n4,4.5,e\n")
    result = ingest.upload(path, "skipped", by="ada", options={"ragged": "skip"})
    assert (result.rows, result.skipped) == (2, 2)
    assert [r["id"] for r in ingest.warehouse.read("skipped").to_pylist()] == [1, 4]


def test_ragged_skip_never_drops_a_bad_value(ingest: Ingest, tmp_path: Path) -> None:
    # DuckDB's ignore_errors would drop this row silently too: it is refused instead
    # (far enough down that the sniffer's sample reads the column as numbers).
    path = write(tmp_path / "bad.csv", HEADER + "".join(rows(30_000)) + "oops,1.5,x\n")
    refused(ingest, path, r"bad.csv: line 30002.*'oops' is not a valid BIGINT", ragged="skip")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(500), "PNG image"),
        ("random.csv", os.urandom(4096) + b"\x00", "binary data"),
        ("nulls.csv", b"id,name\n1,a\x00b\n", "binary data"),
        ("packed.csv", gzip.compress(b"a,b\n1,2\n"), "gzip-compressed.*packed.csv.gz"),
        ("packed2.csv", bz2.compress(b"a,b\n1,2\n"), "bzip2-compressed"),
        ("packed3.csv", lzma.compress(b"a,b\n1,2\n"), "xz-compressed"),
        ("packed4.csv", b"\x28\xb5\x2f\xfd" + os.urandom(64), "zstd-compressed"),
        ("sheet.csv", b"PK\x03\x04" + os.urandom(64), "zip archive"),
        ("data.csv", b"PAR1" + os.urandom(64), "Parquet file"),
        ("inner.csv.gz", gzip.compress(b"\x89PNG\r\n\x1a\n" + os.urandom(64)), "PNG image"),
    ],
)
def test_a_file_that_is_not_text_is_refused(
    ingest: Ingest, tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    refused(ingest, path, rf"{name}: .*{reason}")


def test_a_real_zip_of_a_csv_is_refused_with_what_to_do(ingest: Ingest, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.csv", "a,b\n1,2\n")
    path = tmp_path / "export.csv"
    path.write_bytes(buffer.getvalue())
    refused(ingest, path, r"export.csv: the file is a zip archive.*unpack it")


def test_a_gzip_file_named_csv_gz_loads(ingest: Ingest, tmp_path: Path) -> None:
    path = tmp_path / "fine.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "".join(rows(3))).encode()))
    assert ingest.upload(path, "fine", by="ada").rows == 3


def test_more_columns_than_the_catalog_allows(ingest: Ingest, tmp_path: Path) -> None:
    names = ",".join(f"c{i}" for i in range(5000))
    path = write(tmp_path / "wide.csv", names + "\n" + ",".join("1" * 5000) + "\n")
    refused(ingest, path, r"wide.csv: 5,000 columns, more than the 1,997 a table can have")


def test_decimal_commas_with_semicolons_are_detected(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "eu.csv", "id;price;rate\n1;3,14;0,5\n2;2,00;-1,25\n3;10;7\n")
    preview = ingest.detect(path)
    assert preview.options["decimal"] == ","
    ingest.upload(path, "eu", by="ada")
    assert ingest.warehouse.read("eu").to_pylist() == [
        {"id": 1, "price": 3.14, "rate": 0.5},
        {"id": 2, "price": 2.0, "rate": -1.25},
        {"id": 3, "price": 10.0, "rate": 7.0},
    ]


def test_a_thousands_separator_is_never_read_as_a_wrong_number(
    ingest: Ingest, tmp_path: Path
) -> None:
    # "1.234,56" has a thousands point: without a way to read it exactly it stays text,
    # never 1.23456 or 123456.
    path = write(tmp_path / "th.csv", "id;amount\n1;1.234,56\n2;7,5\n")
    ingest.upload(path, "th", by="ada", options={"decimal": ","})
    assert ingest.warehouse.read("th").to_pylist() == [
        {"id": 1, "amount": "1.234,56"},
        {"id": 2, "amount": "7,5"},
    ]


def test_a_decimal_comma_needs_another_delimiter(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "a,b\n1,2\n")
    refused(ingest, path, r"c.csv: the decimal separator ',' needs another delimiter", decimal=",")


def test_latin_1_loads_exactly(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "latin.csv", "name;city\nJosé;Köln\nÅsa;Malmö\n", "latin-1")
    ingest.upload(path, "people", by="ada")
    assert ingest.warehouse.read("people").to_pylist() == [
        {"name": "José", "city": "Köln"},
        {"name": "Åsa", "city": "Malmö"},
    ]


def test_a_replace_refused_keeps_the_old_version(ingest: Ingest, tmp_path: Path) -> None:
    good = write(tmp_path / "good.csv", HEADER + "".join(rows(3)))
    ingest.upload(good, "kept", by="ada")
    versions = ingest.warehouse.snapshots("kept")
    bad = write(tmp_path / "bad.csv", HEADER + "1,1.5\n")
    with pytest.raises(InvalidInput, match="line 2"):
        ingest.upload(bad, "kept", mode="replace", by="eve")
    assert ingest.warehouse.snapshots("kept") == versions
    assert ingest.warehouse.read("kept").num_rows == 3
    assert len(staged_files(ingest)) == 1  # the committed upload's folder only

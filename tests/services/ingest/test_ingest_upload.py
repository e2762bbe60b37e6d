"""Uploads into a real lake: modes, versions and time travel, atomicity, DataFrames, formats."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from atelier.errors import Conflict, InvalidInput, NotFound
from atelier.services.ingest import Ingest
from tests.conftest import count_lake_sessions
from tests.services.ingest.conftest import staged_files, write

SALES = "id,customer,amount,day\n1,ada,10.5,2024-01-01\n2,bob,20.25,2024-01-02\n"
MORE = "id,customer,amount,day\n3,cyd,5.0,2024-02-01\n"


def rows(ingest: Ingest, table: str, version: int | None = None) -> list[dict[str, object]]:
    schema, _, name = table.rpartition(".")
    data = ingest.warehouse.read(name, schema=schema or "main", version=version)
    return sorted(data.to_pylist(), key=lambda row: str(row))


def test_create_then_append_and_replace_make_versions_with_time_travel(
    any_ingest: Ingest, tmp_path: Path
) -> None:
    ingest = any_ingest
    first = ingest.upload(write(tmp_path / "sales.csv", SALES), "sales", by="ada")
    assert (first.table, first.rows, first.mode) == ("main.sales", 2, "create")
    assert [(c.name, c.type) for c in first.columns] == [
        ("id", "BIGINT"),
        ("customer", "VARCHAR"),
        ("amount", "DOUBLE"),
        ("day", "DATE"),
    ]
    second = ingest.upload(write(tmp_path / "more.csv", MORE), "sales", mode="append", by="bob")
    assert second.rows == 1 and second.version > first.version
    third = ingest.upload(write(tmp_path / "new.csv", MORE), "sales", mode="replace", by="cyd")
    assert third.version > second.version
    # The table's own numbers; an append of no rows makes no version: the latest stands.
    assert [r.table_version for r in (first, second, third)] == [1, 2, 3]
    header = SALES.splitlines()[0] + "\n"
    none = ingest.upload(write(tmp_path / "none.csv", header), "sales", mode="append", by="bob")
    assert (none.rows, none.version, none.table_version) == (0, third.version, 3)

    snapshots = ingest.warehouse.snapshots("sales")
    assert [(s.snapshot_id, s.author) for s in snapshots] == [
        (first.version, "ada"),
        (second.version, "bob"),
        (third.version, "cyd"),
    ]
    assert snapshots[0].message == "upload sales.csv"
    assert [r["id"] for r in rows(ingest, "sales", first.version)] == [1, 2]
    assert [r["id"] for r in rows(ingest, "sales", second.version)] == [1, 2, 3]
    assert [r["id"] for r in rows(ingest, "sales")] == [3]
    with ingest.warehouse.connect() as connection:
        old = connection.execute(
            f"SELECT count(*), sum(amount) FROM sales AT (VERSION => {first.version})"
        ).fetchone()
    assert old == (2, 30.75)
    assert rows(ingest, "sales", first.version)[0]["day"] == dt.date(2024, 1, 1)


def test_create_refuses_an_existing_table_and_append_needs_one(
    ingest: Ingest, tmp_path: Path
) -> None:
    path = write(tmp_path / "sales.csv", SALES)
    ingest.upload(path, "sales", by="ada")
    with pytest.raises(Conflict, match=r"main\.SALES already exists: upload with mode replace"):
        ingest.upload(path, "SALES", by="ada")
    with pytest.raises(NotFound, match=r"no table main\.other to append to"):
        ingest.upload(path, "other", mode="append", by="ada")
    with pytest.raises(InvalidInput, match="upload mode 'merge' is not valid"):
        ingest.upload(path, "other", mode="merge", by="ada")
    assert [t.name for t in ingest.warehouse.tables()] == ["sales"]


def test_schemas_are_created_and_names_checked(ingest: Ingest, tmp_path: Path) -> None:
    result = ingest.upload(write(tmp_path / "s.csv", SALES), "finance.sales", by="ada")
    assert result.table == "finance.sales"
    assert rows(ingest, "finance.sales")[0]["customer"] == "ada"
    for bad in ("a.b.c", "1sales", "sales;drop", "", "information_schema.x"):
        with pytest.raises(InvalidInput):
            ingest.upload(tmp_path / "s.csv", bad, by="ada")


def test_replace_with_other_columns_swaps_the_table_and_keeps_old_versions(
    ingest: Ingest, tmp_path: Path
) -> None:
    first = ingest.upload(write(tmp_path / "a.csv", SALES), "t", by="ada")
    second = ingest.upload(write(tmp_path / "b.csv", "x,y\nfoo,1\n"), "t", mode="replace", by="ada")
    assert [c.name for c in second.columns] == ["x", "y"]
    assert rows(ingest, "t") == [{"x": "foo", "y": 1}]
    assert len(rows(ingest, "t", first.version)) == 2


def test_append_matches_columns_by_name_and_casts_to_the_table_types(
    ingest: Ingest, tmp_path: Path
) -> None:
    ingest.upload(write(tmp_path / "a.csv", SALES), "sales", by="ada")
    reordered = write(tmp_path / "b.csv", "DAY,amount,customer,id\n2024-03-01,7,dan,4\n")
    ingest.upload(reordered, "sales", mode="append", by="ada")
    assert rows(ingest, "sales")[-1] == {
        "id": 4,
        "customer": "dan",
        "amount": 7.0,
        "day": dt.date(2024, 3, 1),
    }


def test_append_names_the_mismatched_column_and_changes_nothing(
    ingest: Ingest, tmp_path: Path
) -> None:
    first = ingest.upload(write(tmp_path / "a.csv", SALES), "sales", by="ada")
    extra = write(tmp_path / "extra.csv", "id,customer,amount,day,note\n3,c,1,2024-01-01,x\n")
    with pytest.raises(InvalidInput, match=r"extra.csv: column 'note' is not in the table"):
        ingest.upload(extra, "sales", mode="append", by="ada")
    missing = write(tmp_path / "missing.csv", "id,customer,amount\n3,c,1\n")
    with pytest.raises(InvalidInput, match=r"column 'day' of the table is missing from the file"):
        ingest.upload(missing, "sales", mode="append", by="ada")
    bad = write(tmp_path / "bad.csv", "id,customer,amount,day\n3,c,lots,2024-01-01\n")
    with pytest.raises(
        InvalidInput, match=r"bad.csv: line 2, column 3 \(amount\): 'lots' is not a valid DOUBLE"
    ):
        ingest.upload(bad, "sales", mode="append", by="ada")
    assert [s.snapshot_id for s in ingest.warehouse.snapshots("sales")] == [first.version]
    assert staged_files(ingest) == [p for p in staged_files(ingest) if any(p.iterdir())]
    assert len(staged_files(ingest)) == 1


def test_a_bad_value_deep_in_the_file_leaves_no_table_and_no_files(
    any_ingest: Ingest, tmp_path: Path
) -> None:
    ingest = any_ingest
    lines = ["id,name,amount"] + [f"{i},n{i},{'abc' if i == 4999 else i}" for i in range(1, 10_001)]
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    with pytest.raises(InvalidInput) as caught:
        ingest.upload(path, "big", by="ada", options={"types": {"amount": "BIGINT"}})
    assert str(caught.value).startswith(
        "big.csv: line 5000, column 3 (amount): 'abc' is not a valid BIGINT"
    )
    assert ingest.warehouse.tables() == []
    assert staged_files(ingest) == []


def test_a_failed_replace_keeps_the_previous_version(any_ingest: Ingest, tmp_path: Path) -> None:
    ingest = any_ingest
    first = ingest.upload(write(tmp_path / "a.csv", SALES), "sales", by="ada")
    ragged = write(tmp_path / "r.csv", "id,customer\n" + "1,a\n" * 30_000 + "2,b,extra\n")
    with pytest.raises(InvalidInput, match=r"r.csv: line 30002: expected 2 columns, found 3"):
        ingest.upload(ragged, "sales", mode="replace", by="ada")
    assert [s.snapshot_id for s in ingest.warehouse.snapshots("sales")] == [first.version]
    assert len(rows(ingest, "sales")) == 2
    assert len(staged_files(ingest)) == 1


def test_a_failure_while_committing_rolls_back(ingest: Ingest, tmp_path: Path) -> None:
    first = ingest.upload(write(tmp_path / "a.csv", SALES), "sales", by="ada")
    failing = ingest.warehouse

    def broken(fn, **kwargs):  # type: ignore[no-untyped-def]
        def fn_then_fail(connection):  # type: ignore[no-untyped-def]
            fn(connection)
            raise RuntimeError("the disk fell off")

        return type(failing).run_write(failing, fn_then_fail, **kwargs)

    failing.run_write = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="disk fell off"):
        ingest.upload(write(tmp_path / "b.csv", MORE), "sales", mode="replace", by="ada")
    del failing.run_write
    assert [s.snapshot_id for s in ingest.warehouse.snapshots("sales")] == [first.version]
    assert [r["id"] for r in rows(ingest, "sales")] == [1, 2]
    assert len(staged_files(ingest)) == 1


def test_an_upload_opens_the_lake_once(
    ingest: Ingest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging, the commit and reading back its version share one session (each one opened
    costs tens of milliseconds, most of a small upload)."""
    warehouse = ingest.warehouse
    ingest.upload(write(tmp_path / "a.csv", SALES), "sales", by="ada")
    opened = count_lake_sessions(monkeypatch, warehouse)
    result = ingest.upload(write(tmp_path / "b.csv", MORE), "sales", mode="append", by="ada")
    assert opened == [False]
    monkeypatch.undo()
    assert [s.snapshot_id for s in warehouse.snapshots("sales")][-1] == result.version
    assert result.table_version == 2


def test_dataframes_pandas_polars_and_arrow(ingest: Ingest) -> None:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    frame = pd.DataFrame({"id": [1, 2], "city": ["Zürich", None]})
    assert ingest.upload(frame, "cities", by="ada").rows == 2
    ingest.upload(pl.DataFrame({"id": [3], "city": ["Oslo"]}), "cities", mode="append", by="ada")
    table = pa.table({"id": pa.array([4], pa.int32()), "city": ["Rome"]})
    result = ingest.upload(table, "cities", mode="append", by="ada")
    assert result.rows == 1
    stream = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    ingest.upload(stream, "cities", mode="append", by="ada")
    assert [r["id"] for r in rows(ingest, "cities")] == [1, 2, 3, 4, 4]
    assert rows(ingest, "cities")[0] == {"id": 1, "city": "Zürich"}
    indexed = pd.DataFrame({"v": [1.5]}, index=pd.Index(["a"], name="key"))
    assert [c.name for c in ingest.upload(indexed, "indexed", by="ada").columns] == ["key", "v"]
    with pytest.raises(InvalidInput, match="cannot upload a dict"):
        ingest.upload({"id": [1]}, "nope", by="ada")


def test_parquet_json_ndjson_tsv_and_excel(ingest: Ingest, tmp_path: Path) -> None:
    import openpyxl
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), tmp_path / "p.parquet")
    assert ingest.upload(tmp_path / "p.parquet", "p", by="ada").rows == 2
    (tmp_path / "j.json").write_text(json.dumps([{"a": 1, "b": {"c": [1, 2]}}]))
    nested = ingest.upload(tmp_path / "j.json", "j", by="ada")
    assert [(c.name, c.type) for c in nested.columns] == [
        ("a", "BIGINT"),
        ("b", "STRUCT(c BIGINT[])"),
    ]
    write(tmp_path / "n.ndjson", '{"a": 1}\n{"a": 2}\n')
    assert ingest.upload(tmp_path / "n.ndjson", "n", by="ada").rows == 2
    write(tmp_path / "t.tsv", "a\tb\n1\tx, y\n")
    assert rows(ingest, ingest.upload(tmp_path / "t.tsv", "t", by="ada").table) == [
        {"a": 1, "b": "x, y"}
    ]
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["ignored"])
    sheet = book.create_sheet("Budget")
    sheet.append(["year", "amount", "day", "ok", "at"])
    sheet.append([2024, 1.5, dt.date(2024, 1, 2), True, dt.datetime(2024, 1, 2, 9, 30)])
    sheet.append([2025, 2, dt.date(2025, 1, 2), False, dt.datetime(2025, 1, 2)])
    book.save(tmp_path / "book.xlsx")
    result = ingest.upload(tmp_path / "book.xlsx", "budget", by="ada", options={"sheet": "Budget"})
    assert [(c.name, c.type) for c in result.columns] == [
        ("year", "BIGINT"),
        ("amount", "DOUBLE"),
        ("day", "DATE"),
        ("ok", "BOOLEAN"),
        ("at", "TIMESTAMP"),
    ]
    assert rows(ingest, "budget")[1] == {
        "year": 2025,
        "amount": 2.0,
        "day": dt.date(2025, 1, 2),
        "ok": False,
        "at": dt.datetime(2025, 1, 2),
    }
    with pytest.raises(InvalidInput, match=r"book.xlsx: no sheet 'Nope': the workbook has"):
        ingest.upload(tmp_path / "book.xlsx", "x", by="ada", options={"sheet": "Nope"})


def test_type_overrides_and_reading_options(ingest: Ingest, tmp_path: Path) -> None:
    path = write(tmp_path / "semi.txt", "# exported\ncode;price\n007;1,5\n")
    result = ingest.upload(
        path,
        "codes",
        by="ada",
        options={"skip": 1, "delimiter": ";", "types": {"code": "varchar", "price": "text"}},
    )
    assert [(c.name, c.type) for c in result.columns] == [("code", "VARCHAR"), ("price", "VARCHAR")]
    assert rows(ingest, "codes") == [{"code": "007", "price": "1,5"}]
    headless = write(tmp_path / "h.csv", "1,2\n3,4\n")
    result = ingest.upload(headless, "h", by="ada", options={"header": False})
    assert [c.name for c in result.columns] == ["column0", "column1"]
    with pytest.raises(InvalidInput, match=r"no column 'nope' to set a type for"):
        ingest.upload(path, "c2", by="ada", options={"skip": 1, "types": {"nope": "INTEGER"}})
    with pytest.raises(InvalidInput, match=r"column type 'INTEGER; DROP' is not one"):
        ingest.upload(path, "c2", by="ada", options={"types": {"code": "INTEGER; DROP"}})


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [
        ("latin-1", None),
        ("cp1252", None),
        ("utf-16", None),
        ("utf-16-be", "utf-16"),
        ("utf-8-sig", None),
    ],
)
def test_encodings(ingest: Ingest, tmp_path: Path, encoding: str, declared: str | None) -> None:
    text = (
        "name,note\nJosé,Zürich “quoted”\n" if encoding == "cp1252" else "name,note\nJosé,Zürich\n"
    )
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)
    path = tmp_path / "enc.csv"
    path.write_bytes(data)
    options = {"encoding": declared} if declared else None
    ingest.upload(path, "enc", by="ada", options=options)
    expected = text.splitlines()[1].split(",")
    assert rows(ingest, "enc") == [{"name": expected[0], "note": expected[1]}]


def test_bad_input_is_named_with_file_line_and_column(ingest: Ingest, tmp_path: Path) -> None:
    # Valid UTF-8 (é) first, then a stray byte: reported, not read as another encoding.
    bad = tmp_path / "bad.csv"
    bad.write_bytes("name\nJosé\n".encode() + b"ok\n" * 10 + b"caf\xe9\n")
    with pytest.raises(InvalidInput, match=r"bad.csv: line 13: bytes that are not valid UTF-8"):
        ingest.upload(bad, "bad", by="ada")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"a\nx\n\xe9\n")
    with pytest.raises(InvalidInput, match=r"latin.csv: line 3: bytes that are not valid UTF-8"):
        ingest.upload(latin, "bad", by="ada", options={"encoding": "utf-8"})
    ragged = write(tmp_path / "ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n")
    with pytest.raises(InvalidInput, match=r"ragged.csv: line 3: expected 3 columns, found 2"):
        ingest.upload(ragged, "bad", by="ada")
    write(tmp_path / "empty.csv", "")
    with pytest.raises(InvalidInput, match=r"^empty.csv: the file is empty$"):
        ingest.upload(tmp_path / "empty.csv", "bad", by="ada")
    with pytest.raises(InvalidInput, match=r"^gone.csv: no such file$"):
        ingest.upload(tmp_path / "gone.csv", "bad", by="ada")
    write(tmp_path / "data.docx", "x")
    with pytest.raises(InvalidInput, match=r"data.docx: unsupported file type '.docx'"):
        ingest.upload(tmp_path / "data.docx", "bad", by="ada")
    write(tmp_path / "old.xls", "x")
    with pytest.raises(InvalidInput, match=r"old Excel format \(.xls\) is not supported"):
        ingest.upload(tmp_path / "old.xls", "bad", by="ada")
    write(tmp_path / "broken.json", '{"a": 1}\n{"a": \n')
    with pytest.raises(InvalidInput, match=r"broken.json: line 3: malformed JSON"):
        ingest.upload(tmp_path / "broken.json", "bad", by="ada")
    write(tmp_path / "fake.parquet", "not parquet")
    with pytest.raises(InvalidInput, match=r"^fake.parquet: "):
        ingest.upload(tmp_path / "fake.parquet", "bad", by="ada")
    assert ingest.warehouse.tables() == []
    assert staged_files(ingest) == []
    assert list((ingest.uploads_dir / "work").iterdir()) == []


def test_on_write_hook_hears_each_committed_upload(ingest: Ingest, tmp_path: Path) -> None:
    heard: list[tuple[str, str]] = []
    ingest.on_write = lambda table, user: heard.append((table, user))
    ingest.upload(write(tmp_path / "a.csv", SALES), "s.sales", by="ada")
    with pytest.raises(Conflict):
        ingest.upload(tmp_path / "a.csv", "s.sales", by="ada")
    assert heard == [("s.sales", "ada")]


def test_progress_reports_the_stages(ingest: Ingest, tmp_path: Path) -> None:
    seen: list[tuple[str, float | None]] = []
    ingest.upload(
        write(tmp_path / "a.csv", SALES),
        "sales",
        by="ada",
        progress=lambda s, p: seen.append((s, p)),
    )
    stages = [stage for stage, _ in seen]
    assert stages[0] == "preparing" and stages[-1] == "committing"
    assert ("reading", 100.0) in seen


def test_a_file_larger_than_the_memory_limit_streams_through(
    ingest: Ingest, tmp_path: Path
) -> None:
    """~190 MB of CSV through a DuckDB limited to 100 MB: only streaming (and spilling) can
    do it. The 1 GB and 2 GB runs, with peak memory, are in bench/ingest.py."""
    import duckdb

    path = tmp_path / "large.csv"
    duckdb.execute(
        f"""COPY (SELECT range AS id, 'customer_' || (range % 50000) AS name,
                  (range % 10000) / 100 AS amount, DATE '2020-01-01' + (range % 1000)::INT AS day
           FROM range(5000000)) TO '{path}' (HEADER)"""
    )
    assert path.stat().st_size > 180 * 2**20
    ingest.memory_limit = "100MB"
    ingest.threads = 2
    limits: list[str] = []
    configure = ingest._configure

    def spy(connection):  # type: ignore[no-untyped-def]
        configure(connection)
        limits.append(connection.execute("SELECT current_setting('memory_limit')").fetchone()[0])

    ingest._configure = spy  # type: ignore[method-assign]
    result = ingest.upload(path, "large", by="ada")
    assert limits == ["95.3 MiB"]
    assert result.rows == 5_000_000
    with ingest.warehouse.connect() as connection:
        total = connection.execute("SELECT count(*), max(id) FROM large").fetchone()
    assert total == (5_000_000, 4_999_999)


def test_an_upload_is_written_with_parquet_2_encodings_any_reader_takes(
    ingest: Ingest, tmp_path: Path
) -> None:
    """Smaller and faster to write and read than version 1 (see docs/uploads.md); DuckDB
    through the lake and pyarrow on the file itself read the same values."""
    import pyarrow.parquet as pq

    ingest.upload(write(tmp_path / "sales.csv", SALES), "sales", by="ada")
    (file,) = ingest.warehouse.data_path.glob("main/sales/upload-*/*.parquet")
    metadata = pq.ParquetFile(file).metadata
    encodings = {metadata.row_group(0).column(i).encodings for i in range(metadata.num_columns)}
    assert ("DELTA_BINARY_PACKED",) in encodings  # the integers and dates
    assert pq.read_table(file).to_pylist() == rows(ingest, "sales")

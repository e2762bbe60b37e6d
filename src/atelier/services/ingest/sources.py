"""Where rows come from: a DuckDB relation over the uploaded file or DataFrame.

Files are read by DuckDB itself (``read_csv``, ``read_parquet``, ``read_json``), which streams
and spills, so nothing is held whole in memory. Excel sheets and text in encodings DuckDB
does not know become UTF-8 CSV work files first; Arrow IPC files and DataFrames are registered
on the connection as Arrow streams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.backends.warehouse.sql import ident, literal
from atelier.errors import InvalidInput
from atelier.services.ingest.errors import (
    Place,
    explain,
    find_ragged_row,
    guess_delimiter,
    has_data_rows,
)
from atelier.services.ingest.excel import sheet_to_csv
from atelier.services.ingest.formats import (
    check_readable,
    check_text,
    detect_format,
    native_encoding,
    resolve_encoding,
    transcode,
)
from atelier.services.ingest.options import Options

if TYPE_CHECKING:
    import duckdb

#: The name an Arrow source is registered under on the connection.
VIEW = "atelier_upload_source"


@dataclass
class Source:
    """A file or DataFrame ready to read: its relation, columns, and what was detected."""

    format: str
    place: Place
    columns: list[str]
    detected: dict[str, Any]
    _relation: Callable[[Mapping[str, str]], str]
    _arrow: Callable[[], Any] | None = None
    #: How ragged CSV rows are read ("pad"/"skip": their lines are collected, see
    #: :func:`check_rejects`).
    ragged: str = "error"

    def relation(self, types: Mapping[str, str]) -> str:
        """SQL for ``FROM``: the rows with the given columns read as the given types."""
        unknown = [name for name in types if name not in self.columns]
        if unknown:
            raise InvalidInput(
                f"{self.place.label}: no column {unknown[0]!r} to set a type for; its columns "
                f"are {', '.join(repr(c) for c in self.columns)}"
            )
        return self._relation(types)

    def attach(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Register the Arrow data (if any) on ``connection``; a fresh stream each time."""
        if self._arrow is not None:
            connection.register(VIEW, self._arrow())


def from_file(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    options: Options,
    workdir: Path,
    label: str,
    *,
    preview: bool = False,
) -> Source:
    """A :class:`Source` for ``path`` (named ``label`` in messages); work files go to
    ``workdir``, which the caller removes."""
    check_readable(path, label)
    kind = detect_format(Path(label) if Path(label).suffix else path, options.format)
    place = Place(label, paths=(str(path),))
    if kind in ("csv", "tsv"):
        return _csv(connection, path, options, workdir, place, tsv=kind == "tsv")
    if kind == "xlsx":
        target = workdir / "sheet.csv"
        sheet = sheet_to_csv(
            path, options.sheet, target, label, max_rows=20_000 if preview else None
        )
        place = Place(label, (str(path), str(target)), "row", sheet.first_row - 1)
        # The work file is UTF-8 by construction; only header and skip still apply.
        sheet_options = Options(header=options.header, skip=options.skip, encoding="utf-8")
        source = _csv(connection, target, sheet_options, workdir, place)
        source.format = "xlsx"
        source.detected = {"sheet": sheet.name, "sheets": list(sheet.sheets)} | {
            k: v for k, v in source.detected.items() if k in ("header", "skip")
        }
        return source
    if kind == "parquet":
        return _scan(connection, "parquet", f"read_parquet({literal(str(path))})", place)
    if kind == "json":
        scan = f"read_json({literal(str(path))}, format = 'auto')"
        return _scan(connection, "json", scan, place)
    return from_arrow(connection, lambda: _ipc_reader(path, label), place, kind="arrow")


def from_arrow(
    connection: duckdb.DuckDBPyConnection,
    make: Callable[[], Any],
    place: Place,
    *,
    kind: str = "dataframe",
) -> Source:
    """A :class:`Source` over Arrow data that ``make()`` returns (a Table or a stream)."""
    return _scan(connection, kind, ident(VIEW), place, arrow=make)


def _scan(
    connection: duckdb.DuckDBPyConnection,
    kind: str,
    scan: str,
    place: Place,
    *,
    arrow: Callable[[], Any] | None = None,
) -> Source:
    import duckdb

    if arrow is not None:
        connection.register(VIEW, arrow())
    try:
        rows = connection.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as error:
        raise explain(error, place) from None

    def relation(types: Mapping[str, str]) -> str:
        if not types:
            return scan
        casts = ", ".join(f"CAST({ident(c)} AS {t}) AS {ident(c)}" for c, t in types.items())
        return f"(SELECT * REPLACE ({casts}) FROM {scan})"

    return Source(kind, place, [str(r[0]) for r in rows], {}, relation, arrow)


def _csv(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    options: Options,
    workdir: Path,
    place: Place,
    *,
    tsv: bool = False,
) -> Source:
    encoding = resolve_encoding(path, options.encoding)
    check_text(path, place.label, encoding)
    duck_encoding = native_encoding(encoding)
    read_path = path
    if duck_encoding is None:
        read_path = workdir / "transcoded.csv"
        transcode(path, encoding, read_path, place.label)
        duck_encoding = "utf-8"
        place = Place(
            place.label, (*place.paths, str(read_path)), place.line_word, place.line_offset
        )
    delimiter = options.delimiter or ("\t" if tsv else None)
    user = {
        "delim": delimiter,
        "quote": options.quote,
        "header": options.header,
        "skip": options.skip or None,
        "encoding": duck_encoding,
        "decimal_separator": options.decimal,
        # Ragged rows must not decide the columns: the header (and the rows that agree) do.
        "ignore_errors": True if options.ragged != "error" else None,
    }
    dialect = _sniff(connection, read_path, user, place, encoding, options.ragged)
    if options.decimal == "," and dialect["delim"] == ",":
        raise InvalidInput(
            f"{place.label}: the decimal separator ',' needs another delimiter (e.g. ';')"
        )
    if options.decimal is None and dialect["delim"] != ",":
        dialect = _detect_decimal_comma(connection, read_path, user, place, encoding, dialect)
    args = [literal(str(read_path))]
    for key in ("delim", "quote", "escape", "header", "skip", "encoding", "decimal_separator"):
        args.append(f"{key} = {_sql_value(dialect[key])}")
    columns = [str(c["name"]) for c in dialect["columns"]]
    sniffed = {str(c["name"]): str(c["type"]) for c in dialect["columns"]}
    if options.ragged != "error":
        args += [
            "ignore_errors = true",
            "store_rejects = true",
            f"rejects_table = {literal(REJECTS)}",
            f"rejects_scan = {literal(REJECTS + '_scans')}",
            # DuckDB's parallel reader cannot pad rows when a quoted value spans lines.
            f"null_padding = {_sql_value(options.ragged == 'pad')}",
            f"parallel = {_sql_value(options.ragged != 'pad')}",
        ]
    base = ", ".join(args)

    def relation(types: Mapping[str, str]) -> str:
        if options.ragged != "error":
            # The columns are pinned, so a long row cannot add one: it is a reject.
            wanted = {**sniffed, **types}
            mapping = ", ".join(f"{literal(c)}: {literal(t)}" for c, t in wanted.items())
            return f"read_csv({base}, columns = {{{mapping}}})"
        if not types:
            return f"read_csv({base})"
        mapping = ", ".join(f"{literal(c)}: {literal(t)}" for c, t in types.items())
        return f"read_csv({base}, types = {{{mapping}}})"

    detected = {
        "format": "tsv" if dialect["delim"] == "\t" else "csv",
        "delimiter": dialect["delim"],
        "quote": dialect["quote"],
        "header": dialect["header"],
        "skip": dialect["skip"],
        "encoding": encoding,
        "decimal": dialect["decimal_separator"],
    }
    if options.ragged != "error":
        detected["ragged"] = options.ragged
    source = Source(detected["format"], place, columns, detected, relation)
    source.ragged = options.ragged
    return source


#: The table DuckDB records ragged (and other bad) rows in when ``ragged`` is pad or skip.
REJECTS = "atelier_upload_rejects"
_RAGGED_ERRORS = ("MISSING COLUMNS", "TOO MANY COLUMNS")


def check_rejects(connection: duckdb.DuckDBPyConnection, source: Source) -> int:
    """After reading with ``ragged`` pad or skip: the number of ragged rows left out; any
    other rejected row (a bad value, a long row that cannot be padded) refuses the file with
    its line, since DuckDB's ``ignore_errors`` would otherwise drop it silently."""
    if source.ragged == "error":
        return 0
    rows = connection.execute(
        f"SELECT line, error_type, error_message FROM {ident(REJECTS)} ORDER BY line"
    ).fetchall()
    skipped = 0
    for line, kind, message in rows:
        if source.ragged == "skip" and str(kind) in _RAGGED_ERRORS:
            skipped += 1
            continue
        error = explain(
            ValueError(f"CSV Error on Line: {line}\n{message}"), source.place, source.columns
        )
        if str(kind) == "TOO MANY COLUMNS":
            raise InvalidInput(
                f"{error} (ragged = 'pad' fills short rows only: fix the row, or use "
                "ragged = 'skip' to leave rows of the wrong length out)"
            )
        raise error
    return skipped


def _detect_decimal_comma(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    user: dict[str, Any],
    place: Place,
    encoding: str,
    dialect: dict[str, Any],
) -> dict[str, Any]:
    """European exports (``;``-separated, ``3,14``): when reading with a decimal comma turns
    text columns into numbers and changes nothing else, that is how the file is written."""
    text = [c["name"] for c in dialect["columns"] if c["type"] == "VARCHAR"]
    if not text:
        return dialect
    trial = {**user, "delim": dialect["delim"], "decimal_separator": ","}
    try:
        comma = _sniff(connection, path, trial, place, encoding, "error")
    except InvalidInput:
        return dialect
    before = {c["name"]: c["type"] for c in dialect["columns"]}
    after = {c["name"]: c["type"] for c in comma["columns"]}
    if before.keys() != after.keys():
        return dialect
    changed = {name for name in before if before[name] != after[name]}
    numeric = ("DOUBLE", "FLOAT", "DECIMAL")
    if changed and all(before[n] == "VARCHAR" and after[n].startswith(numeric) for n in changed):
        return comma
    return dialect


def _sniff(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    user: dict[str, Any],
    place: Place,
    encoding: str,
    ragged: str = "error",
) -> dict[str, Any]:
    import duckdb

    args = [literal(str(path))] + [
        f"{key} = {_sql_value(value)}" for key, value in user.items() if value is not None
    ]
    try:
        row = connection.execute(
            "SELECT Delimiter, Quote, Escape, HasHeader, SkipRows, Columns "
            f"FROM sniff_csv({', '.join(args)})"
        ).fetchone()
    except duckdb.Error as error:
        if "sniffing" not in str(error):
            raise explain(error, place) from None
        if ragged == "error":
            _raise_if_ragged(path, user, place, encoding)
        raise InvalidInput(
            f"{place.label}: could not work out how the file is laid out (delimiter, quoting, "
            "columns); give the delimiter and quote character"
        ) from None
    assert row is not None
    delim, quote, escape, header, skip, columns = row
    if len(columns) == 1 and user["delim"] is None and ragged == "error":
        # One column may mean "ragged rows made every delimiter look wrong".
        _raise_if_ragged(path, user, place, encoding)
    if skip and user["skip"] is None and ragged == "error":
        # The sniffer drops leading lines that do not fit its dialect: a title is fine to
        # drop, but rows of data (a ragged row further down makes the header "not fit") are
        # not, or the file loads as its last rows without their header.
        _check_skipped_lines(path, user, place, encoding, str(delim), int(skip))
    quote, escape = (None if q == "(empty)" else q for q in (quote, escape))
    if quote is None and user["quote"] is None:
        # No quote in the sample: still honour standard CSV quoting further down the file.
        quote, escape = '"', escape or '"'
    return {
        "delim": delim,
        "quote": quote or "",
        "escape": escape or "",
        "header": bool(header),
        "skip": int(skip),
        "encoding": user["encoding"],
        "decimal_separator": user.get("decimal_separator") or ".",
        "columns": columns,
    }


def _check_skipped_lines(
    path: Path, user: dict[str, Any], place: Place, encoding: str, delimiter: str, skip: int
) -> None:
    text_encoding = "utf-8" if user["encoding"] == "utf-8" else encoding
    if not has_data_rows(path, text_encoding, delimiter, user["quote"] or '"', skip):
        return
    _raise_if_ragged(path, {**user, "delim": delimiter}, place, encoding)
    raise InvalidInput(
        f"{place.label}: {place.line(1)} to {place.line(skip)} do not have the layout of the "
        f"rest of the file; if they are a preamble to leave out, give skip = {skip}"
    )


def _raise_if_ragged(path: Path, user: dict[str, Any], place: Place, encoding: str) -> None:
    text_encoding = "utf-8" if user["encoding"] == "utf-8" else encoding
    skip = int(user["skip"] or 0)
    delimiter = user["delim"] or guess_delimiter(path, text_encoding, skip)
    if delimiter is None:
        return
    found = find_ragged_row(path, text_encoding, delimiter, user["quote"] or '"', skip)
    if found is not None:
        line, expected, count = found
        raise InvalidInput(
            f"{place.label}: {place.line(line)}: expected {expected} columns, found {count}; "
            "every row needs as many values as the header (check the delimiter and quoting)"
        )


def _sql_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return literal(str(value))


def _ipc_reader(path: Path, label: str) -> Any:
    """A stream of record batches from an Arrow IPC file or stream, read as it is scanned."""
    import pyarrow as pa

    try:
        with path.open("rb") as file:
            magic = file.read(6)
        if magic == b"ARROW1":
            reader = pa.ipc.open_file(pa.memory_map(str(path)))
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            return pa.RecordBatchReader.from_batches(reader.schema, batches)
        return pa.ipc.open_stream(pa.OSFile(str(path)))
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidInput(f"{label}: not a readable Arrow IPC file or stream ({error})") from None


def dataframe_to_arrow(data: Any) -> Any:
    """pandas / polars DataFrames, Arrow tables, batches and streams, or anything speaking the
    Arrow PyCapsule stream protocol, as an Arrow Table or RecordBatchReader."""
    import pyarrow as pa

    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        import pandas as pd

        if isinstance(data, pd.Series):
            data = data.to_frame()
        if any(name is not None for name in data.index.names):
            data = data.reset_index()
        return pa.Table.from_pandas(data, preserve_index=False)
    if module == "polars":
        return data.to_arrow()
    if isinstance(data, pa.Table | pa.RecordBatchReader):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data)
    raise InvalidInput(
        f"cannot upload a {type(data).__name__}: give a file path, a pandas or polars "
        "DataFrame, or an Arrow table"
    )

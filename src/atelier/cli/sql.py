"""``atelier sql``: one query, shown as a table or written as CSV, JSON or Parquet.

It runs through the SDK client (:func:`~atelier.cli.options.client_for`): on the workspace
in-process, or on the server named by ``ATELIER_URL`` (with ``ATELIER_TOKEN``), whose rows come
back as an Arrow stream. Either way the rows are written batch by batch, and a file named by
``--output`` appears only once it is complete.

A CSV or Parquet file (``--output FILE.csv`` or ``FILE.parquet``; the suffix names the format
unless ``--format`` does) is a download (``ws.sql_download``): audited as ``sql.download``
and, from a remote client, the server's file, so personal data in it is masked unless the
user holds an export grant.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from atelier.cli.options import client_for, workspace_option

if TYPE_CHECKING:
    import pyarrow

FORMATS = ("table", "csv", "json", "parquet")
#: Rows the table format prints; the others write every row.
TABLE_ROWS = 100


@click.command("sql")
@workspace_option
@click.argument("query")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help=f"table (the first {TABLE_ROWS} rows; the default), csv, json (an array of objects) "
    "or parquet; with --output, the file's suffix (.csv, .json, .parquet) when not given.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output (needed for parquet); CSV and "
    "Parquet files are downloads: audited, and masked from a remote client without an "
    "export grant.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop the query after this many seconds (at most query.timeout_seconds).",
)
def sql(
    workspace: str | None,
    query: str,
    fmt: str | None,
    output: Path | None,
    timeout: float | None,
) -> None:
    """Run QUERY (one SQL statement; `-` reads it from standard input) and print its rows.

    Warehouse tables are `schema.table` (e.g. bank.customers), tables of attached sources
    `source.schema.table`; `FROM t AT (VERSION => 3)` reads an older version. Remote when
    ATELIER_URL is set (and --workspace is not given).
    """
    if query == "-":
        query = sys.stdin.read()
    if fmt is None:
        fmt = "table" if output is None else _format_of(output)
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    if fmt == "table" and output is not None:
        raise click.UsageError("--output needs --format csv, json or parquet")
    from atelier.cli.format import one_line
    from atelier.errors import AtelierError

    try:
        if output is not None and fmt in ("csv", "parquet"):
            with client_for(workspace, scopes=("data",), doing="download query results") as client:
                written = client.sql_download(query, output, format=fmt, timeout=timeout)
            rows = "" if written["rows"] is None else f" ({written['rows']:,} rows)"
            click.echo(f"Wrote {output}{rows}", err=True)
            return
        with (
            client_for(workspace, scopes=("data:read",), doing="run SQL") as client,
            client.sql_batches(query, timeout=timeout) as reader,
        ):
            batches = _first_batch_with_spinner(reader)
            if fmt == "table":
                _print_table(reader.schema, batches)
            else:
                with _destination(output) as sink:
                    WRITERS[fmt](reader.schema, batches, sink)
    except AtelierError as error:
        # DuckDB's messages span lines (with a ^ under the culprit); errors here are one line.
        raise type(error)(one_line(str(error))) from None


#: The format a file's suffix names.
SUFFIXES = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def _format_of(output: Path) -> str:
    found = SUFFIXES.get(output.suffix.lower())
    if found is None:
        raise click.UsageError(
            f"cannot tell the format of {output.name} from its suffix: name it .csv, .json "
            "or .parquet, or give --format"
        )
    return found


def _first_batch_with_spinner(
    reader: pyarrow.RecordBatchReader,
) -> Iterator[pyarrow.RecordBatch]:
    """The reader's batches; a spinner on a terminal until the first one arrives."""
    from rich.console import Console

    batches: Iterator[pyarrow.RecordBatch] = iter(reader)
    console = Console(stderr=True)
    if not console.is_terminal:
        return batches
    with console.status("Running the query…"):
        first = next(batches, None)
    return batches if first is None else itertools.chain([first], batches)


@contextmanager
def _destination(output: Path | None) -> Iterator[IO[bytes]]:
    """Standard output, or a temporary file renamed to ``output`` once it is complete."""
    if output is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        with partial.open("wb") as sink:
            yield sink
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"Wrote {output}", err=True)


def _print_table(schema: pyarrow.Schema, batches: Iterator[pyarrow.RecordBatch]) -> None:
    import pyarrow
    from rich.console import Console
    from rich.table import Table

    from atelier.contract.values import json_rows

    table = Table(*schema.names, show_lines=False)
    numeric = [
        pyarrow.types.is_integer(f.type)
        or pyarrow.types.is_floating(f.type)
        or pyarrow.types.is_decimal(f.type)
        for f in schema
    ]
    for column, is_number in zip(table.columns, numeric, strict=True):
        column.justify = "right" if is_number else "left"
    total = 0
    for batch in batches:
        room = TABLE_ROWS - total
        if room > 0:
            for row in json_rows(pyarrow.Table.from_batches([batch.slice(0, room)])):
                table.add_row(*(_cell(v) for v in row))
        total += batch.num_rows
    shown = min(total, TABLE_ROWS)
    console = Console()
    console.print(table)
    more = f" (first {shown:,} shown: use --format csv for all)" if total > shown else ""
    console.print(f"{total:,} rows{more}", style="dim", soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _write_csv(
    schema: pyarrow.Schema, batches: Iterator[pyarrow.RecordBatch], sink: IO[bytes]
) -> None:
    import pyarrow
    import pyarrow.csv

    from atelier.errors import InvalidInput

    nested = [f.name for f in schema if pyarrow.types.is_nested(f.type)]
    if nested:
        raise InvalidInput(
            f"CSV cannot hold the nested column(s) {', '.join(nested)}: "
            "use --format json or parquet, or cast them to VARCHAR in the query"
        )
    with pyarrow.csv.CSVWriter(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def _write_json(
    schema: pyarrow.Schema, batches: Iterator[pyarrow.RecordBatch], sink: IO[bytes]
) -> None:
    import pyarrow

    from atelier.contract.values import json_rows

    names = schema.names
    separator = b"[\n"
    for batch in batches:
        for row in json_rows(pyarrow.Table.from_batches([batch])):
            sink.write(separator + json.dumps(dict(zip(names, row, strict=True))).encode())
            separator = b",\n"
    sink.write(b"[]\n" if separator == b"[\n" else b"\n]\n")


def _write_parquet(
    schema: pyarrow.Schema, batches: Iterator[pyarrow.RecordBatch], sink: IO[bytes]
) -> None:
    import pyarrow.parquet

    with pyarrow.parquet.ParquetWriter(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


WRITERS = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet}


def register(group: click.Group) -> None:
    """Add the command to ``group``."""
    group.add_command(sql)

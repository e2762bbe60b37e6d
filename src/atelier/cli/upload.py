"""``atelier data upload``: a file becomes a warehouse table, with a progress bar.

Through the SDK client's ``upload``. Embedded (no ``ATELIER_URL``): the workspace's ingest
service reads the file in this process; the bar follows DuckDB's progress. Remote
(``ATELIER_URL`` and ``ATELIER_TOKEN`` set, no ``--workspace``): the client streams the file to
the server as multipart form data from a generator, so it is never held in memory, and the bar
counts the bytes sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from atelier.cli.options import client_for, workspace_option

if TYPE_CHECKING:
    from rich.progress import Progress

    from atelier.sdk.client import Client, Mode

STAGES = {
    "preparing": "Preparing",
    "reading": "Reading",
    "committing": "Committing",
    "sending": "Sending",
    "loading": "Loading",
}


@click.command("upload")
@workspace_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", "-n", required=True, help="Table: NAME or SCHEMA.NAME (schema main).")
@click.option(
    "--schema",
    help="Schema of the table: main (shared), user_<you> (yours) or a project's schema "
    "(its members'); the same as --name SCHEMA.NAME [default: main].",
)
@click.option(
    "--mode",
    type=click.Choice(["create", "replace", "append"]),
    default="create",
    show_default=True,
    help="create a new table, replace its rows (a new version), or append rows.",
)
@click.option("--delimiter", help="CSV delimiter, e.g. ';' or tab [default: detected].")
@click.option("--quote", help="CSV quote character, or 'none' [default: detected].")
@click.option("--header/--no-header", default=None, help="Whether the first row holds names.")
@click.option("--encoding", help="Text encoding, e.g. utf-8, cp1252, latin-1 [default: detected].")
@click.option("--skip", type=click.IntRange(0), help="Lines to skip before the header.")
@click.option(
    "--ragged",
    type=click.Choice(["error", "pad", "skip"]),
    help="CSV rows with fewer or more values than the header: refuse the file naming the "
    "line, fill short rows with NULLs, or leave such rows out [default: error].",
)
@click.option(
    "--decimal",
    type=click.Choice([".", ","]),
    help="CSV decimal separator, e.g. ',' for 3,14 [default: detected].",
)
@click.option("--sheet", help="Excel sheet: a name or a position from 1 [default: the first].")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "tsv", "parquet", "json", "xlsx", "arrow"]),
    help="File format [default: from the extension].",
)
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="COLUMN=TYPE",
    help="Read COLUMN as TYPE (e.g. amount=DECIMAL(18,2)); repeat for more columns.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def upload(
    workspace: str | None,
    file: Path,
    name: str,
    schema: str | None,
    mode: str,
    delimiter: str | None,
    quote: str | None,
    header: bool | None,
    encoding: str | None,
    skip: int | None,
    ragged: str | None,
    decimal: str | None,
    sheet: str | None,
    file_format: str | None,
    types: tuple[str, ...],
    as_json: bool,
) -> None:
    """Upload FILE (CSV, TSV, Parquet, JSON, Excel .xlsx) as table NAME: one new version.

    \b
    atelier data upload sales.csv --name sales
    atelier data upload more.csv --name sales --mode append
    atelier data upload mine.csv --name sales --schema user_ada
    atelier data upload book.xlsx --name finance.budget --sheet 2 --type year=INTEGER
    """
    options: dict[str, Any] = {
        "delimiter": delimiter,
        "quote": quote,
        "header": header,
        "encoding": encoding,
        "skip": skip,
        "ragged": ragged,
        "decimal": decimal,
        "sheet": sheet,
        "format": file_format,
        "types": _types(types),
    }
    options = {k: v for k, v in options.items() if v not in (None, {})}
    with client_for(workspace, scopes=("data",), doing="upload data") as client:
        result = _upload(client, file, name, mode, options, schema)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    verb = "appended to" if result["mode"] == "append" else "loaded into"
    # The table's own version number; the lake-wide snapshot is what time travel takes.
    number = result.get("table_version")
    version = (
        f"version {number}, lake snapshot {result['version']}"
        if number
        else (f"lake snapshot {result['version']}")
    )
    click.echo(f"{result['rows']:,} rows {verb} {result['table']} ({version})")


def _types(pairs: tuple[str, ...]) -> dict[str, str]:
    types = {}
    for pair in pairs:
        column, sep, kind = pair.partition("=")
        if not sep or not column.strip() or not kind.strip():
            raise click.BadParameter(f"{pair!r}: write COLUMN=TYPE", param_hint="--type")
        types[column.strip()] = kind.strip()
    return types


def _progress(*, transfer: bool = False) -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        ProgressColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns: list[ProgressColumn] = [
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
    ]
    if transfer:
        columns += [DownloadColumn(), TransferSpeedColumn()]
    columns.append(TimeElapsedColumn())
    # On stderr, so that stdout carries only the result (for --json and scripts).
    return Progress(*columns, console=Console(stderr=True), transient=True)


def _upload(
    client: Client,
    file: Path,
    name: str,
    mode: str,
    options: dict[str, Any],
    schema: str | None = None,
) -> dict[str, Any]:
    """The upload through ``client`` (embedded or remote), with a bar on stderr."""
    from atelier.errors import InvalidInput
    from atelier.sdk.remote import RemoteClient

    if not file.is_file():
        raise InvalidInput(f"{file}: no such file")
    remote = isinstance(client, RemoteClient)
    file_size = file.stat().st_size
    with _progress(transfer=remote) as bar:
        first = "sending" if remote else "preparing"
        task = bar.add_task(f"{STAGES[first]} {file.name}", total=file_size if remote else None)

        def report(stage: str, percent: float | None) -> None:
            label = f"{STAGES.get(stage, stage)} {file.name}"
            if stage == "loading":
                label += " on the server"
            if stage == "sending" and percent is not None:
                bar.update(task, description=label, completed=file_size * percent / 100)
            elif percent is None:
                bar.update(task, description=label, total=None)
            else:
                bar.update(task, description=label, total=100, completed=percent)

        result: dict[str, Any] = client.upload(
            file, name, mode=cast("Mode", mode), options=options, progress=report, schema=schema
        )
    return result

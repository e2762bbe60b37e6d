"""``atelier data upload``: a file becomes a warehouse table, with a progress bar.

Embedded (no ``ATELIER_URL``): the workspace's ingest service reads the file in this process;
the bar follows DuckDB's progress. Remote (``ATELIER_URL`` and ``ATELIER_TOKEN`` set, no
``--workspace``): the file is streamed to the server as multipart form data from a generator,
so it is never held in memory, and the bar counts the bytes sent.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from atelier.cli.options import workspace_option

if TYPE_CHECKING:
    from rich.progress import Progress

STAGES = {
    "preparing": "Preparing",
    "reading": "Reading",
    "committing": "Committing",
}


@click.command("upload")
@workspace_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", "-n", required=True, help="Table: NAME or SCHEMA.NAME (schema main).")
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
    url = os.environ.get("ATELIER_URL")
    if url and not workspace:
        result = _remote(url, file, name, mode, options)
    else:
        result = _embedded(workspace, file, name, mode, options)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    verb = "appended to" if result["mode"] == "append" else "loaded into"
    click.echo(f"{result['rows']:,} rows {verb} {result['table']} (version {result['version']})")


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


def _embedded(
    workspace: str | None, file: Path, name: str, mode: str, options: dict[str, Any]
) -> dict[str, Any]:
    from atelier.cli.options import acting, open_workbench

    wb = open_workbench(workspace, scopes=("data",), doing="upload data")
    try:
        by = acting(wb).name
        with _progress() as bar:
            task = bar.add_task(f"Preparing {file.name}", total=None)

            def report(stage: str, percent: float | None) -> None:
                label = f"{STAGES.get(stage, stage)} {file.name}"
                if percent is None:
                    bar.update(task, description=label, total=None)
                else:
                    bar.update(task, description=label, total=100, completed=percent)

            result = wb.ingest.upload(
                file, name, mode=mode, options=options, by=by, progress=report
            )
        return result.as_dict()
    finally:
        wb.close()


def _remote(url: str, file: Path, name: str, mode: str, options: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from atelier.errors import AuthenticationFailed, InvalidInput
    from atelier.sdk.remote import RemoteClient

    token = os.environ.get("ATELIER_TOKEN")
    if not token:
        raise AuthenticationFailed(
            f"no token for {url}: set ATELIER_TOKEN (create one with `atelier tokens create`)"
        )
    if not file.is_file():
        raise InvalidInput(f"{file}: no such file")
    fields = {"name": name, "mode": mode, "options": json.dumps(options)}
    body = MultipartBody(file, fields)
    client = RemoteClient(url, token)
    try:
        with _progress(transfer=True) as bar:
            task = bar.add_task(f"Sending {file.name}", total=body.file_size)

            def sent(count: int) -> None:
                bar.update(task, advance=count)
                if bar.tasks[0].completed >= body.file_size:
                    bar.update(task, description=f"Loading {file.name} on the server")

            response = client.request(
                "POST",
                "/uploads",
                content=body.chunks(sent),
                headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
                # Loading a large file takes a while after the last byte is sent.
                timeout=httpx.Timeout(60.0, read=None),
            )
        data: dict[str, Any] = response.json()
        return data
    finally:
        client.close()


class MultipartBody:
    """A ``multipart/form-data`` body of some text fields and one file, produced in chunks so
    that the file is read as it is sent."""

    CHUNK = 1 << 20

    def __init__(self, file: Path, fields: dict[str, str]) -> None:
        self.file = file
        self.file_size = file.stat().st_size
        self.boundary = f"atelier-{uuid.uuid4().hex}"
        head = b"".join(
            self._part_header(key) + value.encode("utf-8") + b"\r\n"
            for key, value in fields.items()
        )
        self.head = head + self._part_header("file", file.name)
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self.head) + self.file_size + len(self.tail)

    def _part_header(self, name: str, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            safe = filename.replace('"', "%22").replace("\r", "").replace("\n", "")
            disposition += f'; filename="{safe}"'
            extra = "\r\nContent-Type: application/octet-stream"
        else:
            extra = ""
        return f"--{self.boundary}\r\nContent-Disposition: {disposition}{extra}\r\n\r\n".encode()

    def chunks(self, sent: Callable[[int], None] | None = None) -> Iterator[bytes]:
        yield self.head
        with self.file.open("rb") as source:
            while chunk := source.read(self.CHUNK):
                if sent is not None:
                    sent(len(chunk))
                yield chunk
        yield self.tail


__all__ = ["MultipartBody", "upload"]

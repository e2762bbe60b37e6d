"""``atelier data``: the warehouse tables and the tables of attached sources.

``list``, ``show``, ``profile``, ``tag``, ``describe`` and ``pii`` are here; ``upload`` is
added to the same group by :mod:`atelier.cli.upload`. Each goes through the SDK client, on the
workspace or on the server of ``ATELIER_URL`` alike.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from atelier.cli.format import number, short, size
from atelier.cli.options import client_for, workspace_option


@click.group()
def data() -> None:
    """Warehouse tables: list, show, upload, profile."""


@data.command("list")
@workspace_option
@click.option("--search", "-s", help="Only tables whose name, description, tags or columns match.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_tables(workspace: str | None, search: str | None, as_json: bool) -> None:
    """List warehouse tables and the tables of attached sources."""
    with client_for(workspace, scopes=("data:read",), doing="list tables") as client:
        entries = client.tables(search)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo("No tables." if not search else f"No table matches {search!r}.")
        return
    for e in entries:
        if e.get("error"):
            click.echo(f"{e['name']:<40} source unreachable: {e['error']}")
            continue
        rows = f"{e['rows']:,}" if e.get("rows") is not None else "—"
        tags = ", ".join(e.get("tags") or [])
        owner = short(e.get("owner"), 16)
        click.echo(f"{e['name']:<40} {rows:>12} {size(e.get('size_bytes')):>9}  {owner:<16} {tags}")


@data.command("show")
@workspace_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(workspace: str | None, name: str, as_json: bool) -> None:
    """Show table NAME (schema.table or source.schema.table): schema, versions, sample."""
    with client_for(workspace, scopes=("data:read",), doing="read tables") as client:
        detail = client.describe(name)
    if as_json:
        click.echo(json.dumps(detail, indent=2))
        return
    e = detail
    rows = f"{e['rows']:,}" if e.get("rows") is not None else "—"
    click.echo(f"{e['name']}  ({'warehouse table' if e['kind'] == 'table' else 'source table'})")
    click.echo(f"  rows {rows}, size {size(e.get('size_bytes'))}, owner {e.get('owner') or '—'}")
    if e.get("tags"):
        click.echo(f"  tags: {', '.join(e['tags'])}")
    if e.get("description"):
        click.echo(f"  {e['description']}")
    pii = e.get("pii") or {}
    if pii.get("personal"):
        click.echo(f"  personal data (marked by {pii.get('marked_by') or '—'})")
    tags = {t["column"]: t for t in pii.get("columns") or []}
    click.echo("\nColumns:")
    for c in e.get("columns") or []:
        flag = f"  [PII {_pii_label(tags[c['name']])}]" if c["name"] in tags else ""
        null = "" if c.get("nullable", True) else " NOT NULL"
        click.echo(f"  {c['name']:<32} {c['type']}{null}{flag}")
    if detail.get("versions"):
        click.echo("\nVersions: (the table's own number, @ the lake snapshot time travel takes)")
        for v in detail["versions"]:
            at = datetime.fromisoformat(v["time"])
            number = v.get("number") or "?"
            click.echo(
                f"  {number:>4}  @{v['version']:<6}  {at:%Y-%m-%d %H:%M:%S}  "
                f"{short(v.get('author'), 16):<16} "
                f"+{v['rows_inserted']:,} -{v['rows_deleted']:,}  {v.get('message') or ''}"
            )
    sample = detail.get("sample") or {}
    if sample.get("rows"):
        click.echo("\nSample:")
        click.echo("  " + " | ".join(short(c, 16) for c in sample["columns"]))
        for row in sample["rows"][:5]:
            click.echo("  " + " | ".join(short(v, 16) for v in row))


def _stat_line(c: dict[str, Any]) -> str:
    distinct = c.get("distinct")
    shown = "?" if distinct is None else f"{'' if c.get('distinct_exact') else '~'}{distinct:,}"
    parts = [f"nulls {c['nulls']:,}", f"distinct {shown}"]
    if c.get("min") is not None:
        parts.append(f"min {number(c['min'])}")
        parts.append(f"max {number(c['max'])}")
    if c.get("mean") is not None:
        parts.append(f"mean {number(c['mean'])}")
    if c.get("std") is not None:
        parts.append(f"std {number(c['std'])}")
    median = (c.get("quantiles") or {}).get("q50")
    if median is not None:
        parts.append(f"median {number(median)}")
    return ", ".join(parts)


@data.command("profile")
@workspace_option
@click.argument("name")
@click.option("--version", type=click.IntRange(0), help="Profile this version (snapshot).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def profile(workspace: str | None, name: str, version: int | None, as_json: bool) -> None:
    """Profile table NAME: per column nulls, distinct values, min/max/mean, top values."""
    with client_for(workspace, scopes=("data:read",), doing="profile tables") as client:
        result = client.profile(name, version=version)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    at = f" at version {result['version']}" if result.get("version") is not None else ""
    columns = result["columns"]
    click.echo(f"{result['table']}{at}: {result['rows']:,} rows, {len(columns)} columns")
    for c in columns:
        click.echo(f"\n{c['name']} ({c['type']})")
        if c.get("note"):  # e.g. a personal-data column profiled on its masked values
            click.echo(f"  ({c['note']})")
        click.echo(f"  {_stat_line(c)}")
        if c.get("top_values"):
            top = ", ".join(
                short(t["value"], 20) + (f" ({t['count']:,})" if t["count"] is not None else "")
                for t in c["top_values"][:5]
            )
            click.echo(f"  top: {top}")


@data.command("tag")
@workspace_option
@click.argument("name")
@click.argument("tags", nargs=-1)
@click.option("--remove", "-r", multiple=True, help="Remove this tag (repeatable).")
@click.option("--clear", is_flag=True, help="Remove every tag first.")
def tag(
    workspace: str | None, name: str, tags: tuple[str, ...], remove: tuple[str, ...], clear: bool
) -> None:
    """Add TAGS to table NAME (and --remove others); print the tags it ends with."""
    with client_for(workspace, scopes=("data",), doing="tag tables") as client:
        current = [] if clear else list(client.describe(name).get("tags") or [])
        wanted = [t for t in current if t not in remove] + [t for t in tags if t not in current]
        entry = client.update_table(name, tags=wanted)
    click.echo(f"{entry['name']}: {', '.join(entry['tags']) or 'no tags'}")


@data.command("describe")
@workspace_option
@click.argument("name")
@click.argument("description", required=False)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the description from stdin.")
def describe(workspace: str | None, name: str, description: str | None, from_stdin: bool) -> None:
    """Set the DESCRIPTION of table NAME (or print it when none is given)."""
    import sys

    if from_stdin:
        description = sys.stdin.read().strip()
    with client_for(workspace, scopes=("data",), doing="describe tables") as client:
        if description is None:
            click.echo(client.describe(name).get("description") or "(no description)")
            return
        entry = client.update_table(name, description=description)
    click.echo(f"Description of {entry['name']} saved")


def _pii_label(tag: dict[str, Any]) -> str:
    if tag["state"] == "confirmed":
        return f"{tag['kind']}, confirmed by {tag.get('decided_by') or '—'}"
    confidence = tag.get("confidence")
    sure = f" {confidence:.0%}" if confidence is not None else ""
    return f"{tag['kind']}, suggested{sure}"


@data.command("pii")
@workspace_option
@click.argument("name")
@click.option(
    "--confirm",
    nargs=2,
    multiple=True,
    metavar="COLUMN KIND",
    help="Confirm COLUMN's tag as KIND, or change it to KIND (repeatable).",
)
@click.option("--remove", multiple=True, metavar="COLUMN", help="Remove COLUMN's tag (repeatable).")
@click.option("--classify", is_flag=True, help="Classify the table's columns again first.")
@click.option(
    "--personal/--not-personal",
    default=None,
    help="Mark the whole table as personal data (or take the mark off).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def pii(
    workspace: str | None,
    name: str,
    confirm: tuple[tuple[str, str], ...],
    remove: tuple[str, ...],
    classify: bool,
    personal: bool | None,
    as_json: bool,
) -> None:
    """Show the personal-data tags of table NAME's columns; its owner and admins confirm,
    change or remove them. KIND: person_name, email, phone, postal_address, date_of_birth,
    national_id, payment_card, iban, ip_address, free_text_with_pii."""
    changing = bool(confirm or remove or classify or personal is not None)
    scopes = ("data",) if changing else ("data:read",)
    with client_for(workspace, scopes=scopes, doing="tag personal data") as client:
        result = client.pii.classify(name) if classify else None
        for column, kind in confirm:
            result = client.pii.confirm(name, column, kind)
        for column in remove:
            result = client.pii.remove(name, column)
        if personal is not None:
            result = client.pii.mark(name, personal=personal)
        if result is None:
            result = client.pii.get(name)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    marked = f", personal data (marked by {result['marked_by']})" if result["personal"] else ""
    click.echo(f"{result['table']}: {len(result['columns'])} PII tag(s){marked}")
    for t in result["columns"]:
        click.echo(f"  {t['column']:<32} {_pii_label(t)}")


def register(group: click.Group) -> None:
    """Add ``data`` (with ``data upload``) to ``group``."""
    from atelier.cli.upload import upload

    data.add_command(upload)
    group.add_command(data)

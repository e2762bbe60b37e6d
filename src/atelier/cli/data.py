"""``atelier data``: the warehouse tables and the tables of attached sources.

``list``, ``show``, ``profile``, ``tag`` and ``describe`` are here; ``upload`` is added to the
same group by :mod:`atelier.cli.upload`. Each goes through the SDK client, on the workspace or
on the server of ``ATELIER_URL`` alike.
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
    click.echo("\nColumns:")
    for c in e.get("columns") or []:
        click.echo(f"  {c['name']:<32} {c['type']}{'' if c.get('nullable', True) else ' NOT NULL'}")
    if detail.get("versions"):
        click.echo("\nVersions:")
        for v in detail["versions"]:
            at = datetime.fromisoformat(v["time"])
            click.echo(
                f"  {v['version']:>6}  {at:%Y-%m-%d %H:%M:%S}  {short(v.get('author'), 16):<16} "
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

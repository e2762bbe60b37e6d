"""``atelier data``: the warehouse tables and the tables of attached sources.

``list``, ``show``, ``profile``, ``tag`` and ``describe`` are here; ``upload`` is added to the
same group by :mod:`atelier.cli.upload`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from atelier.cli.options import acting, open_workbench, workspace_option

if TYPE_CHECKING:
    from atelier.services.profile import ColumnProfile


@click.group()
def data() -> None:
    """Warehouse tables: list, show, upload, profile."""


def _short(value: Any, width: int = 24) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(value: int | None) -> str:
    from atelier.server.pages.data_format import size

    return size(value)


@data.command("list")
@workspace_option
@click.option("--search", "-s", help="Only tables whose name, description, tags or columns match.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_tables(workspace: str | None, search: str | None, as_json: bool) -> None:
    """List warehouse tables and the tables of attached sources."""
    entries = open_workbench(workspace, scopes=("data:read",)).catalog.list(search)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    if not entries:
        click.echo("No tables." if not search else f"No table matches {search!r}.")
        return
    for e in entries:
        if e.error:
            click.echo(f"{e.name:<40} source unreachable: {e.error}")
            continue
        rows = f"{e.rows:,}" if e.rows is not None else "—"
        tags = ", ".join(e.tags)
        click.echo(
            f"{e.name:<40} {rows:>12} {_size(e.size_bytes):>9}  {_short(e.owner, 16):<16} {tags}"
        )


@data.command("show")
@workspace_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(workspace: str | None, name: str, as_json: bool) -> None:
    """Show table NAME (schema.table or source.schema.table): schema, versions, sample."""
    detail = open_workbench(workspace, scopes=("data:read",)).catalog.describe(name)
    if as_json:
        click.echo(json.dumps(detail.as_dict(), indent=2))
        return
    e = detail.entry
    rows = f"{e.rows:,}" if e.rows is not None else "—"
    click.echo(f"{e.name}  ({'warehouse table' if e.kind == 'table' else 'source table'})")
    click.echo(f"  rows {rows}, size {_size(e.size_bytes)}, owner {e.owner or '—'}")
    if e.tags:
        click.echo(f"  tags: {', '.join(e.tags)}")
    if e.description:
        click.echo(f"  {e.description}")
    click.echo("\nColumns:")
    for c in e.columns:
        click.echo(f"  {c.name:<32} {c.type}{'' if c.nullable else ' NOT NULL'}")
    if detail.versions:
        click.echo("\nVersions:")
        for v in detail.versions:
            click.echo(
                f"  {v.version:>6}  {v.time:%Y-%m-%d %H:%M:%S}  {_short(v.author, 16):<16} "
                f"+{v.rows_inserted:,} -{v.rows_deleted:,}  {v.message or ''}"
            )
    if detail.sample_rows:
        click.echo("\nSample:")
        click.echo("  " + " | ".join(_short(c, 16) for c in detail.sample_columns))
        for row in detail.sample_rows[:5]:
            click.echo("  " + " | ".join(_short(v, 16) for v in row))


def _stat_line(c: ColumnProfile) -> str:
    from atelier.server.pages.data_format import number

    parts = [f"nulls {c.nulls:,}", f"distinct {'' if c.distinct_exact else '~'}{c.distinct:,}"]
    if c.min is not None:
        parts.append(f"min {number(c.min)}")
        parts.append(f"max {number(c.max)}")
    if c.mean is not None:
        parts.append(f"mean {number(c.mean)}")
    if c.std is not None:
        parts.append(f"std {number(c.std)}")
    if c.q50 is not None:
        parts.append(f"median {number(c.q50)}")
    return ", ".join(parts)


@data.command("profile")
@workspace_option
@click.argument("name")
@click.option("--version", type=click.IntRange(0), help="Profile this version (snapshot).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def profile(workspace: str | None, name: str, version: int | None, as_json: bool) -> None:
    """Profile table NAME: per column nulls, distinct values, min/max/mean, top values."""
    result = open_workbench(workspace, scopes=("data:read",)).profiles.profile(
        name, version=version
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    at = f" at version {result.version}" if result.version is not None else ""
    click.echo(f"{result.table}{at}: {result.rows:,} rows, {len(result.columns)} columns")
    for c in result.columns:
        click.echo(f"\n{c.name} ({c.type})")
        click.echo(f"  {_stat_line(c)}")
        if c.top_values:
            top = ", ".join(
                f"{_short(v, 20)}" + (f" ({n:,})" if n is not None else "")
                for v, n in c.top_values[:5]
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
    wb = open_workbench(workspace, scopes=("data",))
    current = [] if clear else list(wb.catalog.describe(name).entry.tags)
    wanted = [t for t in current if t not in remove] + [t for t in tags if t not in current]
    entry = wb.catalog.update(name, tags=wanted, by=acting(wb).name)
    click.echo(f"{entry.name}: {', '.join(entry.tags) or 'no tags'}")


@data.command("describe")
@workspace_option
@click.argument("name")
@click.argument("description", required=False)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the description from stdin.")
def describe(workspace: str | None, name: str, description: str | None, from_stdin: bool) -> None:
    """Set the DESCRIPTION of table NAME (or print it when none is given)."""
    import sys

    wb = open_workbench(workspace, scopes=("data",))
    if from_stdin:
        description = sys.stdin.read().strip()
    if description is None:
        click.echo(wb.catalog.describe(name).entry.description or "(no description)")
        return
    entry = wb.catalog.update(name, description=description, by=acting(wb).name)
    click.echo(f"Description of {entry.name} saved")

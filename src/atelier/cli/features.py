"""``atelier features``: apply definitions, list and show views, materialize, training sets."""

from __future__ import annotations

import json
from typing import Any

import click

from atelier.cli.options import acting, open_workbench, workspace_option


@click.group()
def features() -> None:
    """Feature views, point-in-time training sets and online lookups."""


@features.command("apply")
@workspace_option
@click.argument("path", required=False, type=click.Path(exists=True))
@click.option(
    "--project",
    help="Project the definitions belong to [default: PROJECT in the file, or its folder's name].",
)
@click.option("--dry-run", is_flag=True, help="Show what would change and stop.")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking.")
def apply_command(
    workspace: str | None, path: str | None, project: str | None, dry_run: bool, yes: bool
) -> None:
    """Apply the definitions in PATH (features.py or features.yaml; default: the current
    folder's): show the diff, then apply it."""
    from atelier.errors import Conflict

    wb = open_workbench(workspace, scopes=("features",))
    store = wb.features
    definitions = store.load(path)
    me = acting(wb)
    by = me.name
    # Checked as the acting person: a project's members (and admins) apply as it.
    plan = store.apply(definitions, project=project, dry_run=True, principal=me)
    click.echo(f"project {plan.project}:")
    click.echo(plan.text())
    if plan.blocked:
        raise Conflict("nothing applied: " + "; ".join(plan.blocked))
    if dry_run or not plan.pending:
        return
    if not yes and not click.confirm("Apply these changes?", default=False):
        click.echo("Nothing applied.")
        return
    store.apply(definitions, project=plan.project, principal=me)
    wb.audit.record(
        "features.apply",
        actor=by,
        target=plan.project,
        client="cli",
        detail={"changes": [c.line() for c in plan.pending]},
    )
    click.echo(f"Applied {len(plan.pending)} change(s).")


@features.command("list")
@workspace_option
@click.option("--project", help="Only this project's views.")
@click.option("--search", help="Words to look for in names, descriptions, tags and features.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(
    workspace: str | None, project: str | None, search: str | None, as_json: bool
) -> None:
    """List feature views."""
    views = open_workbench(workspace, scopes=("features",)).features.views(
        project=project, search=search
    )
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in views], indent=2, default=str))
        return
    for v in views:
        source = v.source or "query"
        click.echo(
            f"{v.name:<28} v{v.version:<3} {v.project:<16} {v.entity:<14} "
            f"{len(v.features):>3} features  ttl {v.ttl:<6} {source}"
        )


@features.command("show")
@workspace_option
@click.argument("view")
@click.option("--stats", is_flag=True, help="Recompute the per-feature statistics first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(workspace: str | None, view: str, stats: bool, as_json: bool) -> None:
    """Show VIEW: definition, features, versions, lineage, freshness, statistics."""
    store = open_workbench(workspace, scopes=("features",)).features
    if stats:
        store.statistics(view)
    info = store.view(view)
    if as_json:
        click.echo(json.dumps(info.as_dict(), indent=2, default=str))
        return
    click.echo(f"{info.name} (version {info.version}, project {info.project}, owner {info.owner})")
    if info.description:
        click.echo(f"  {info.description}")
    click.echo(f"  entity {info.entity} keys {', '.join(info.keys)}; ttl {info.ttl}")
    click.echo(f"  source {info.source or info.query}; time {info.timestamp}")
    click.echo(f"  upstream: {', '.join(info.upstream) or '-'}")
    click.echo("  features:")
    summary = (info.stats or {}).get("features", {})
    for f in info.features:
        line = f"    {f['name']:<28} {f['kind']:<12} {f['definition']}"
        if f["name"] in summary:
            s = summary[f["name"]]
            line += f"  [{s['type']}, nulls {s['nulls']}, min {s['min']}, max {s['max']}]"
        click.echo(line)
    if info.stats:
        click.echo(f"  rows {info.stats['rows']}, last event {info.stats['last_event']}")
    for t in info.training_sets:
        click.echo(f"  used by training set {t['name']} (version {t['version']})")
    for s in info.services:
        click.echo(f"  used by feature service {s}")
    click.echo(f"  versions: {', '.join(str(v['version']) for v in info.versions)}")


@features.command("materialize")
@workspace_option
@click.argument("views", nargs=-1)
@click.option("--incremental", is_flag=True, help="Only entities that can have changed.")
def materialize_command(workspace: str | None, views: tuple[str, ...], incremental: bool) -> None:
    """Write the latest values of VIEWS (default: all) to the online store."""
    wb = open_workbench(workspace, scopes=("features",))
    for result in wb.features.materialize(list(views) or None, incremental=incremental):
        click.echo(
            f"{result['view']}: {result['mode']}, {result['entities']} entities "
            f"to {result['store']} in {result['seconds']} s"
        )


@features.command("training-set")
@workspace_option
@click.argument("entities")
@click.argument("features_", metavar="FEATURES...", nargs=-1, required=True)
@click.option("--save-as", required=True, help="Warehouse table to write (schema.table).")
@click.option("--timestamp", help="The entity table's event time column.")
@click.option("--full-names", is_flag=True, help="Name columns view__feature.")
def training_set_command(
    workspace: str | None,
    entities: str,
    features_: tuple[str, ...],
    save_as: str,
    timestamp: str | None,
    full_names: bool,
) -> None:
    """Join FEATURES ('view:feature') to the rows of warehouse table ENTITIES as of each row's
    event time, and save the result as a versioned warehouse table."""
    wb = open_workbench(workspace, scopes=("features",))
    result = wb.features.training_set(
        entities,
        list(features_),
        timestamp=timestamp,
        save_as=save_as,
        full_names=full_names,
        by=acting(wb).name,
    )
    views = ", ".join(f"{v}@{n}" for v, n in result.view_versions.items())
    click.echo(f"{result.name} version {result.version}: {result.rows} rows ({views})")


@features.command("training-sets")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def training_sets_command(workspace: str | None, as_json: bool) -> None:
    """List saved training sets with the feature-view versions they used."""
    sets: list[dict[str, Any]] = open_workbench(
        workspace, scopes=("features",)
    ).features.training_sets()
    if as_json:
        click.echo(json.dumps(sets, indent=2))
        return
    for t in sets:
        views = ", ".join(f"{v}@{n}" for v, n in t["feature_views"].items())
        click.echo(f"{t['name']:<32} v{t['version']:<5} {t['rows']:>9} rows  {views}")


def register(group: click.Group) -> None:
    """Add the commands to ``group``."""
    group.add_command(features)

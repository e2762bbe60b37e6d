"""``atelier features``: apply definitions, list and show views, materialize, training sets.

Each command goes through the SDK client (``client.features``), on the workspace or on the
server of ``ATELIER_URL`` alike; ``apply`` reads the definitions here and ships them.
"""

from __future__ import annotations

import json
from typing import Any

import click

from atelier.cli.options import client_for, workspace_option

SCOPES = ("features",)


@click.group()
def features() -> None:
    """Feature views, point-in-time training sets and online lookups."""


def _line(change: dict[str, Any]) -> str:
    mark = {"create": "+", "update": "~", "delete": "-", "unchanged": " "}[change["action"]]
    version = f" (version {change['version']})" if change.get("version") else ""
    text = f"{mark} {change['kind']} {change['name']}{version}"
    return text + "".join(f"\n      {d}" for d in change.get("details") or [])


def _pending(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in plan["changes"] if c["action"] != "unchanged"]


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
    from atelier.sdk.features import load_definitions

    with client_for(workspace, scopes=SCOPES, doing="apply feature definitions") as client:
        definitions = load_definitions(path)
        # Checked as the acting person: a project's members (and admins) apply as it.
        plan = client.features.apply(definitions, project=project, dry_run=True)
        pending = _pending(plan)
        click.echo(f"project {plan['project']}:")
        lines = [_line(c) for c in pending] or ["no changes"]
        lines += [f"refused: {reason}" for reason in plan["blocked"]]
        click.echo("\n".join(lines))
        if plan["blocked"]:
            raise Conflict("nothing applied: " + "; ".join(plan["blocked"]))
        if dry_run or not pending:
            return
        if not yes and not click.confirm("Apply these changes?", default=False):
            click.echo("Nothing applied.")
            return
        client.features.apply(definitions, project=plan["project"])
    click.echo(f"Applied {len(pending)} change(s).")


@features.command("list")
@workspace_option
@click.option("--project", help="Only this project's views.")
@click.option("--search", help="Words to look for in names, descriptions, tags and features.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(
    workspace: str | None, project: str | None, search: str | None, as_json: bool
) -> None:
    """List feature views."""
    with client_for(workspace, scopes=SCOPES, doing="list feature views") as client:
        views = client.features.views(project=project, search=search)
    if as_json:
        click.echo(json.dumps(views, indent=2, default=str))
        return
    for v in views:
        source = v.get("source") or "query"
        click.echo(
            f"{v['name']:<28} v{v['version']:<3} {v['project']:<16} {v['entity']:<14} "
            f"{len(v['features']):>3} features  ttl {v['ttl']:<6} {source}"
        )


@features.command("show")
@workspace_option
@click.argument("view")
@click.option("--stats", is_flag=True, help="Recompute the per-feature statistics first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(workspace: str | None, view: str, stats: bool, as_json: bool) -> None:
    """Show VIEW: definition, features, versions, lineage, freshness, statistics."""
    with client_for(workspace, scopes=SCOPES, doing="read feature views") as client:
        if stats:
            client.features.statistics(view)
        info = client.features.describe(view)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    click.echo(
        f"{info['name']} (version {info['version']}, project {info['project']}, "
        f"owner {info['owner']})"
    )
    if info.get("description"):
        click.echo(f"  {info['description']}")
    click.echo(f"  entity {info['entity']} keys {', '.join(info['keys'])}; ttl {info['ttl']}")
    click.echo(f"  source {info.get('source') or info.get('query')}; time {info['timestamp']}")
    click.echo(f"  upstream: {', '.join(info.get('upstream') or []) or '-'}")
    click.echo("  features:")
    summary = (info.get("stats") or {}).get("features", {})
    for f in info["features"]:
        line = f"    {f['name']:<28} {f['kind']:<12} {f['definition']}"
        if f.get("pii"):
            line += f"  (personal data: {f['pii']['kind']}, from {', '.join(f['pii']['from'])})"
        if f["name"] in summary:
            s = summary[f["name"]]
            line += f"  [{s['type']}, nulls {s['nulls']}, min {s['min']}, max {s['max']}]"
        click.echo(line)
    if info.get("stats"):
        click.echo(f"  rows {info['stats']['rows']}, last event {info['stats']['last_event']}")
    for t in info.get("training_sets") or []:
        click.echo(f"  used by training set {t['name']} (version {t['version']})")
    for s in info.get("services") or []:
        click.echo(f"  used by feature service {s}")
    click.echo(f"  versions: {', '.join(str(v['version']) for v in info.get('versions') or [])}")


@features.command("materialize")
@workspace_option
@click.argument("views", nargs=-1)
@click.option("--incremental", is_flag=True, help="Only entities that can have changed.")
def materialize_command(workspace: str | None, views: tuple[str, ...], incremental: bool) -> None:
    """Write the latest values of VIEWS (default: all) to the online store."""
    with client_for(workspace, scopes=SCOPES, doing="materialize features") as client:
        results = client.features.materialize(list(views) or None, incremental=incremental)
    for result in results:
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
    with client_for(workspace, scopes=SCOPES, doing="build training sets") as client:
        result = client.features.save_training_set(
            entities,
            list(features_),
            save_as=save_as,
            timestamp=timestamp,
            full_names=full_names,
        )
    views = ", ".join(f"{v}@{n}" for v, n in result["feature_views"].items())
    click.echo(
        f"{result['name']} version {result['training_set_version']}: {result['rows']} rows "
        f"({views})"
    )


@features.command("training-sets")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def training_sets_command(workspace: str | None, as_json: bool) -> None:
    """List saved training sets with the feature-view versions they used."""
    with client_for(workspace, scopes=SCOPES, doing="list training sets") as client:
        sets = client.features.training_sets()
    if as_json:
        click.echo(json.dumps(sets, indent=2))
        return
    for t in sets:
        views = ", ".join(f"{v}@{n}" for v, n in t["feature_views"].items())
        click.echo(f"{t['name']:<32} v{t['version']:<5} {t['rows']:>9} rows  {views}")


def register(group: click.Group) -> None:
    """Add the commands to ``group``."""
    group.add_command(features)

"""``atelier models``: the model registry (register a run's model, aliases, model cards).

Each command works through the SDK client (:func:`~atelier.cli.options.client_for`): on the
workspace, or against ``ATELIER_URL`` with ``ATELIER_TOKEN`` from anywhere. As the API, it is
for scientists and admins (viewers cannot see runs), and a code token needs its
``tracking`` scope; the registry service checks who may change a model or move an alias.
"""

from __future__ import annotations

import json
from typing import Any

import click

from atelier.cli.options import BUILDERS, client_for, workspace_option

#: What a job's or notebook's token needs for these commands (as the API's routes).
SCOPES = ("tracking",)


@click.group()
def models() -> None:
    """Registered models: register from a run, aliases, model cards."""


@models.command("register")
@workspace_option
@click.argument("run_id")
@click.option("--name", "-n", required=True, help="The registered model's name.")
@click.option("--alias", "-a", help="Point this alias (e.g. champion) at the new version.")
@click.option("--model", "-m", help="Which of the run's logged models, when it logged several.")
@click.option("--description", "-d", help="What this version is.")
def register_model(
    workspace: str | None,
    run_id: str,
    name: str,
    alias: str | None,
    model: str | None,
    description: str | None,
) -> None:
    """Register the model that run RUN_ID logged as a new version of --name."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="register models") as client:
        version = client.models.register(
            run_id, name, alias=alias, model=model, description=description
        )
    aliases = f" ({', '.join(version['aliases'])})" if version["aliases"] else ""
    click.echo(f"Registered {version['name']} version {version['version']}{aliases}")


@models.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_models(workspace: str | None, as_json: bool) -> None:
    """List registered models with their latest version and aliases."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="list models") as client:
        found = client.models.list()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("No registered models: register one with `atelier models register`.")
        return
    for m in found:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m["aliases"].items()))
        click.echo(
            f"{m['name']:<32} v{m['latest_version'] or '—':<5} {m['registered_by'] or '—':<16} "
            f"{aliases}"
        )


@models.command("alias")
@workspace_option
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=click.IntRange(1), required=False)
@click.option("--remove", is_flag=True, help="Remove ALIAS instead.")
def alias(workspace: str | None, name: str, alias: str, version: int | None, remove: bool) -> None:
    """Point ALIAS (e.g. champion) of model NAME at VERSION (or --remove it)."""
    if not remove and version is None:
        raise click.UsageError("give the VERSION the alias points at (or --remove)")
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="move aliases") as client:
        if remove:
            client.models.delete_alias(name, alias)
            click.echo(f"Removed alias {alias} of {name}")
            return
        assert version is not None
        client.models.set_alias(name, alias, version)
    click.echo(f"{name}@{alias} → version {version}")


@models.command("show")
@workspace_option
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print the whole card as JSON.")
def show(workspace: str | None, reference: str, as_json: bool) -> None:
    """Show the model card of REFERENCE: NAME@alias, NAME/VERSION or NAME (the latest)."""
    with client_for(workspace, roles=BUILDERS, scopes=SCOPES, doing="read model cards") as client:
        card = client.models.card(reference)
    if as_json:
        click.echo(json.dumps(card, indent=2))
        return
    for line in card_lines(card):
        click.echo(line)


def card_lines(card: dict[str, Any]) -> list[str]:
    aliases = f"  ({', '.join(card['aliases'])})" if card["aliases"] else ""
    lines = [
        f"{card['name']} version {card['version']}{aliases}",
        f"  registered by {card['registered_by'] or '—'} at {card['created_at'] or '—'}",
        f"  run {card['run_id'] or '—'}"
        + (f" ({card['run_name']})" if card.get("run_name") else ""),
    ]
    if card.get("description"):
        lines.append(f"  {card['description']}")
    signature = card.get("signature") or {}
    if signature.get("inputs"):
        lines.append("\nInputs:")
        lines += [f"  {c.get('name', '—'):<32} {c.get('type', '')}" for c in signature["inputs"]]
    if card.get("metrics"):
        lines.append("\nMetrics:")
        lines += [f"  {k:<32} {v:.6g}" for k, v in card["metrics"].items()]
    if card.get("data_versions"):
        lines.append("\nData versions:")
        lines += [f"  {d['table']:<32} version {d['version']}" for d in card["data_versions"]]
    if card.get("personal_data"):
        trained = ", ".join(f"{c} ({k})" for c, k in sorted(card["personal_data"].items()))
        lines.append(f"\nTrained on personal data: {trained}")
    env = card.get("environment") or {}
    if env:
        lines.append("\nEnvironment:")
        for key in ("user", "project", "profile", "python", "git_commit", "lock_sha256"):
            if env.get(key):
                lines.append(f"  {key.replace('_', ' '):<16} {env[key]}")
        if env.get("git_dirty"):
            lines.append("  (uncommitted changes: see atelier.diff in the run)")
        if env.get("packages"):
            lines.append(f"  {len(env['packages'])} packages (atelier.packages.txt in the run)")
        if env.get("lock"):
            lines.append("  uv.lock recorded (atelier.lock in the run)")
        if env.get("loader"):
            loader = env["loader"]
            form = loader.get("serialization_format")
            lines.append(
                f"  {'loader':<16} {loader.get('flavor')}" + (f" ({form})" if form else "")
            )
        if env.get("complete_lock"):
            lines.append(f"  complete lock    {len(env['complete_lock'])} packages pinned")
    flags = env.get("flags") or []
    if flags:
        lines.append("\nNot pinned by its environment:")
        lines += [f"  {flag.get('problem', '—'):<20} {flag.get('message', '')}" for flag in flags]
    return lines


def register(group: click.Group) -> None:
    """Add the commands to ``group``."""
    group.add_command(models)

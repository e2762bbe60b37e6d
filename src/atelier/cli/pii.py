"""Personal data commands: the masking rules, and raw-access grants (admins give and revoke
them; everyone lists their own). They go through the SDK client; the grants service checks
roles and writes the audit log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from atelier.cli.options import client_for, workspace_option
from atelier.sdk.rules import BUILDERS, EVERYONE


@click.group()
def pii() -> None:
    """Personal data: masking rules and raw-access grants."""


@pii.command("rules")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rules(workspace: str | None, as_json: bool) -> None:
    """How each kind of personal data is masked for whoever may not see it raw."""
    with client_for(workspace, roles=EVERYONE, doing="see the masking rules") as client:
        listed = client.pii_grants.rules()
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    for rule in listed:
        note = "" if rule["default"] else f"  (default: {rule['default_rule']})"
        click.echo(f"{rule['kind']:<20} {rule['rule']}{note}")


@pii.group()
def grants() -> None:
    """Raw access to personal data: on a table or a kind, with a reason and an expiry."""


def _line(grant: dict[str, Any]) -> str:
    on = f"table {grant['table']}" if grant["table"] else f"kind {grant['kind']}"
    state = "active" if grant["active"] else ("revoked" if grant["revoked_at"] else "expired")
    export = " +export" if grant["export"] else ""
    return (
        f"{grant['id']:<5} {grant['user']:<16} {on:<32} until {grant['expires_at'][:16]} "
        f"{state}{export}  by {grant['granted_by']}: {grant['reason']}"
    )


@grants.command("list")
@workspace_option
@click.option("--user", help="This user's grants (admins).")
@click.option("--all", "everything", is_flag=True, help="Expired and revoked grants too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def grants_list(workspace: str | None, user: str | None, everything: bool, as_json: bool) -> None:
    """Active grants: everyone's for an admin, your own otherwise."""
    with client_for(workspace, roles=EVERYONE, doing="list raw-access grants") as client:
        listed = client.pii_grants.list(user=user, everything=everything)
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    if not listed:
        click.echo("no grants")
    for grant in listed:
        click.echo(_line(grant))


@grants.command("add")
@workspace_option
@click.argument("user")
@click.option("--table", help="The table (schema.table) whose personal data USER may see raw.")
@click.option("--kind", help="The kind of personal data (email, phone...) USER may see raw.")
@click.option("--reason", required=True, help="Why raw values are needed (audited).")
@click.option("--days", type=int, help="How long the grant lasts.")
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
    help="When the grant ends (UTC).",
)
@click.option("--export", is_flag=True, help="Raw values may leave the server too.")
def grants_add(
    workspace: str | None,
    user: str,
    table: str | None,
    kind: str | None,
    reason: str,
    days: int | None,
    until: datetime | None,
    export: bool,
) -> None:
    """Give USER raw access to a table's or a kind's personal data (admins)."""
    with client_for(workspace, roles=BUILDERS, doing="grant raw access") as client:
        made = client.pii_grants.add(
            user,
            table=table,
            kind=kind,
            reason=reason,
            days=days,
            expires_at=until,
            export=export,
        )
    click.echo(f"Granted: {_line(made)}")


@grants.command("revoke")
@workspace_option
@click.argument("grant_id", type=int)
def grants_revoke(workspace: str | None, grant_id: int) -> None:
    """End grant GRANT_ID now (admins)."""
    with client_for(workspace, roles=BUILDERS, doing="revoke raw access") as client:
        revoked = client.pii_grants.revoke(grant_id)
    click.echo(f"Revoked: {_line(revoked)}")


def register(group: click.Group) -> None:
    group.add_command(pii)

"""Account commands: users, tokens, audit. They go through the SDK client (remote with
ATELIER_URL or a stored login, else embedded on the workspace); the accounts service checks
roles and writes the audit log."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from atelier.cli.options import client_for, read_password, workspace_option

if TYPE_CHECKING:
    from atelier.sdk.accounts import Accounts
    from atelier.sdk.client import Client

ADMIN = ("admin",)
TOKEN_ROLES = ("admin", "scientist")

ROLE = click.Choice(["admin", "scientist", "viewer"])


def _accounts(client: Client) -> Accounts:
    return client.accounts


@click.group()
def users() -> None:
    """Manage users and their roles."""


@users.command("create")
@workspace_option
@click.argument("name")
@click.option("--role", type=ROLE, required=True, help="admin, scientist or viewer.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(workspace: str | None, name: str, role: str, password_stdin: bool) -> None:
    """Create user NAME with a password (prompted, or read with --password-stdin)."""
    with client_for(workspace, roles=ADMIN, doing="create users") as client:
        user = _accounts(client).create_user(name, role, read_password(password_stdin))
    click.echo(f"Created {user['role']} {user['name']}")


@users.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(workspace: str | None, as_json: bool) -> None:
    """List users."""
    with client_for(workspace, roles=ADMIN, doing="list users") as client:
        listed = _accounts(client).users()
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    for u in listed:
        state = " (disabled)" if u["disabled"] else ""
        click.echo(f"{u['name']:<24} {u['role']:<10}{state}")


@users.command("set-role")
@workspace_option
@click.argument("name")
@click.argument("role", type=ROLE)
def users_set_role(workspace: str | None, name: str, role: str) -> None:
    """Give user NAME another ROLE."""
    with client_for(workspace, roles=ADMIN, doing="change roles") as client:
        _accounts(client).change_user(name, role=role)
    click.echo(f"{name} is now {role}")


@users.command("set-password")
@workspace_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_set_password(workspace: str | None, name: str, password_stdin: bool) -> None:
    """Set the password of user NAME."""
    with client_for(workspace, roles=ADMIN, doing="set passwords") as client:
        _accounts(client).change_user(name, password=read_password(password_stdin))
    click.echo(f"Password of {name} changed")


@users.command("disable")
@workspace_option
@click.argument("name")
def users_disable(workspace: str | None, name: str) -> None:
    """Disable user NAME: no login, tokens refused, sessions closed."""
    _set_disabled(workspace, name, True)


@users.command("enable")
@workspace_option
@click.argument("name")
def users_enable(workspace: str | None, name: str) -> None:
    """Enable user NAME again."""
    _set_disabled(workspace, name, False)


def _set_disabled(workspace: str | None, name: str, disabled: bool) -> None:
    doing = f"{'disable' if disabled else 'enable'} users"
    with client_for(workspace, roles=ADMIN, doing=doing) as client:
        _accounts(client).change_user(name, disabled=disabled)
    click.echo(f"{name} {'disabled' if disabled else 'enabled'}")


@click.group()
def tokens() -> None:
    """Manage API tokens (shown once, stored hashed, revocable, expiring)."""


@tokens.command("create")
@workspace_option
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option("--user", "user_name", help="Owner (admins only) [default: you].")
@click.option("--days", type=click.IntRange(1, 3650), help="Lifetime [default: auth.token_days].")
def tokens_create(
    workspace: str | None, name: str, user_name: str | None, days: int | None
) -> None:
    """Create an API token and print it (it is not shown again)."""
    with client_for(workspace, roles=TOKEN_ROLES, doing="create tokens") as client:
        made = _accounts(client).create_token(name, days=days, user=user_name)
    click.echo(made["token"])
    click.echo(
        f"token {made['key']} for {made['user']}, expires {made['expires_at'][:10]}; "
        "copy it now, it is not shown again",
        err=True,
    )


@tokens.command("list")
@workspace_option
@click.option("--user", "user_name", help="Only this user's tokens (admins: anyone's).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tokens_list(workspace: str | None, user_name: str | None, as_json: bool) -> None:
    """List tokens (never their secrets): an admin's are everyone's, others' their own."""
    with client_for(workspace, roles=TOKEN_ROLES, doing="list tokens") as client:
        listed = _accounts(client).tokens(user=user_name, everyone=True)
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    for t in listed:
        state = "active" if t["active"] else ("revoked" if t["revoked_at"] else "expired")
        click.echo(
            f"{t['key']}  {t['user']:<16} {t['name']:<20} {state:<8} expires {t['expires_at'][:10]}"
        )


@tokens.command("revoke")
@workspace_option
@click.argument("key")
def tokens_revoke(workspace: str | None, key: str) -> None:
    """Revoke the token whose key is KEY (the part after atl_); others' tokens: admins only."""
    with client_for(workspace, roles=TOKEN_ROLES, doing="revoke tokens") as client:
        info = _accounts(client).revoke_token(key)
    click.echo(f"Revoked token {info['key']} of {info['user']}")


@click.command()
@workspace_option
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--action", help="Only this action, e.g. login or token.create.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(workspace: str | None, limit: int, action: str | None, as_json: bool) -> None:
    """Show the audit log, newest first."""
    with client_for(workspace, roles=ADMIN, doing="read the audit log") as client:
        entries = _accounts(client).audit(limit=limit, action=action)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        ok = "ok  " if e["success"] else "FAIL"
        at = e["at"][:19].replace("T", " ")
        click.echo(f"{at} {ok} {e['action']:<18} {e['actor'] or '-':<16} {e['target'] or ''}")


def register(group: click.Group) -> None:
    for command in (users, tokens, audit):
        group.add_command(command)

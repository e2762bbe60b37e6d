"""Account commands: users, tokens, audit, whoami. They act on the workspace directly."""

from __future__ import annotations

import json

import click

from atelier.cli.options import (
    acting,
    open_workbench,
    read_password,
    require,
    workspace_option,
)

ADMIN = ("admin",)

ROLE = click.Choice(["admin", "scientist", "viewer"])


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
    wb = open_workbench(workspace, roles=ADMIN, doing="create users")
    user = wb.users.create(name, role, read_password(password_stdin))
    wb.audit.record(
        "user.create", actor=acting(wb).name, target=user.name, client="cli", detail={"role": role}
    )
    click.echo(f"Created {user.role} {user.name}")


@users.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(workspace: str | None, as_json: bool) -> None:
    """List users."""
    listed = open_workbench(workspace, roles=ADMIN, doing="list users").users.list()
    if as_json:
        click.echo(json.dumps([u.as_dict() for u in listed], indent=2))
        return
    for u in listed:
        state = " (disabled)" if u.disabled else ""
        click.echo(f"{u.name:<24} {u.role:<10}{state}")


@users.command("set-role")
@workspace_option
@click.argument("name")
@click.argument("role", type=ROLE)
def users_set_role(workspace: str | None, name: str, role: str) -> None:
    """Give user NAME another ROLE."""
    wb = open_workbench(workspace, roles=ADMIN, doing="change roles")
    wb.users.set_role(name, role)
    wb.audit.record(
        "user.update", actor=acting(wb).name, target=name, client="cli", detail={"role": role}
    )
    click.echo(f"{name} is now {role}")


@users.command("set-password")
@workspace_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_set_password(workspace: str | None, name: str, password_stdin: bool) -> None:
    """Set the password of user NAME."""
    wb = open_workbench(workspace, roles=ADMIN, doing="set passwords")
    wb.users.set_password(name, read_password(password_stdin))
    wb.audit.record(
        "user.update",
        actor=acting(wb).name,
        target=name,
        client="cli",
        detail={"password": "changed"},
    )
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
    wb = open_workbench(
        workspace, roles=ADMIN, doing=f"{'disable' if disabled else 'enable'} users"
    )
    wb.users.set_disabled(name, disabled)
    wb.audit.record(
        "user.update",
        actor=acting(wb).name,
        target=name,
        client="cli",
        detail={"disabled": disabled},
    )
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
    wb = open_workbench(workspace, doing="create tokens")
    actor = acting(wb).name
    if user_name and user_name != actor:
        require(acting(wb), ADMIN, f"create tokens for {user_name}")
    info, plaintext = wb.tokens.create(
        user_name or actor, name, days or wb.settings.auth.token_days
    )
    wb.audit.record(
        "token.create", actor=actor, target=info.key, client="cli", detail={"user": info.user}
    )
    click.echo(plaintext)
    click.echo(
        f"token {info.key} for {info.user}, expires {info.expires_at:%Y-%m-%d}; "
        "copy it now, it is not shown again",
        err=True,
    )


@tokens.command("list")
@workspace_option
@click.option("--user", "user_name", help="Only this user's tokens (admins: anyone's).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tokens_list(workspace: str | None, user_name: str | None, as_json: bool) -> None:
    """List tokens (never their secrets): an admin's are everyone's, others' their own."""
    wb = open_workbench(workspace, doing="list tokens")
    me = acting(wb)
    if me.role != "admin":
        if user_name and user_name != me.name:
            require(me, ADMIN, f"list the tokens of {user_name}")
        user_name = me.name
    listed = wb.tokens.list(user_name)
    if as_json:
        click.echo(json.dumps([t.as_dict() for t in listed], indent=2))
        return
    for t in listed:
        state = "active" if t.active else ("revoked" if t.revoked_at else "expired")
        click.echo(f"{t.key}  {t.user:<16} {t.name:<20} {state:<8} expires {t.expires_at:%Y-%m-%d}")


@tokens.command("revoke")
@workspace_option
@click.argument("key")
def tokens_revoke(workspace: str | None, key: str) -> None:
    """Revoke the token whose key is KEY (the part after atl_); others' tokens: admins only."""
    wb = open_workbench(workspace, doing="revoke tokens")
    me = acting(wb)
    info = wb.tokens.revoke(key, owner=None if me.role == "admin" else me.name)
    wb.audit.record("token.revoke", actor=me.name, target=key, client="cli")
    click.echo(f"Revoked token {info.key} of {info.user}")


@click.command()
@workspace_option
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@click.option("--action", help="Only this action, e.g. login or token.create.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(workspace: str | None, limit: int, action: str | None, as_json: bool) -> None:
    """Show the audit log, newest first."""
    wb = open_workbench(workspace, roles=ADMIN, doing="read the audit log")
    entries = wb.audit.entries(limit=limit, action=action)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    for e in entries:
        ok = "ok  " if e.success else "FAIL"
        click.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S} {ok} {e.action:<18} {e.actor or '-':<16} {e.target or ''}"
        )


@click.command()
@workspace_option
def whoami(workspace: str | None) -> None:
    """Show who you are: remote with ATELIER_URL/ATELIER_TOKEN, else on the local workspace."""
    import atelier

    with atelier.connect(workspace=workspace) as ws:
        me = ws.whoami()
    click.echo(f"{me['name']} ({me['role']}, via {me['via']})")


def register(group: click.Group) -> None:
    for command in (users, tokens, audit, whoami):
        group.add_command(command)

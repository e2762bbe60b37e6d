"""``atelier apps``: publish models as apps, host Streamlit/Dash apps, share, pause, delete.

The CLI acts on the local workspace as the person ATELIER_TOKEN names (or the local admin), who
then owns what is published; the running server picks the changes up at the next request (a
deployed app starts, or restarts, on its next visit).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from atelier.cli.options import EVERYONE, acting, open_workbench, workspace_option


@click.group()
def apps() -> None:
    """Apps: generated from a model, or hosted Streamlit/Dash scripts."""


def _url(wb: object, path: str) -> str:
    workspace = wb.workspace  # type: ignore[attr-defined]
    return f"{workspace.public_url}{path}"


@apps.command("create")
@workspace_option
@click.argument("name")
@click.option("--model", "model", required=True, help="Registered model: NAME@ALIAS or NAME.")
@click.option("--title", default="", help="Title shown on the app [default: from the model].")
@click.option("--description", default="", help="What the app is for, shown under the title.")
def create(workspace: str | None, name: str, model: str, title: str, description: str) -> None:
    """Publish app NAME generated from MODEL's signature and input example."""
    wb = open_workbench(workspace, doing="publish apps")
    try:
        app = wb.apps.create(
            name, model, acting(wb), title=title, description=description, client="cli"
        )
        click.echo(f"app {app.name} serves {app.model}: {_url(wb, app.url)}")
        click.echo(f"share it: atelier apps share {app.name} --user NAME (or --everyone)")
    finally:
        wb.close()


@apps.command("deploy")
@workspace_option
@click.argument("script", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="App name (its address is /apps/NAME/).")
@click.option("--project", help="Project whose environment runs the app.")
@click.option(
    "--kind", type=click.Choice(["streamlit", "dash"]), help="[default: detected from SCRIPT]"
)
@click.option("--title", default="", help="Title in the apps list.")
def deploy(
    workspace: str | None,
    script: Path,
    name: str,
    project: str | None,
    kind: str | None,
    title: str,
) -> None:
    """Host the Streamlit or Dash app SCRIPT at /apps/NAME/, behind Atelier's login."""
    try:
        text = script.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.UsageError(f"{script}: not a UTF-8 text file") from None
    wb = open_workbench(workspace, doing="deploy apps")
    try:
        app = wb.apps.deploy(
            name,
            text,
            acting(wb),
            project=project,
            kind=kind,
            filename=script.name,
            title=title,
            client="cli",
        )
        click.echo(f"{app.kind} app {app.name} deployed: {_url(wb, app.url)}")
        click.echo("the server starts it on its next visit; logs: atelier apps logs " + app.name)
    finally:
        wb.close()


@apps.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_apps(workspace: str | None, as_json: bool) -> None:
    """Every app with its model or script, status and sharing."""
    wb = open_workbench(workspace, scopes=("predict",), roles=EVERYONE, doing="list apps")
    try:
        found = wb.apps.registry.list(acting(wb))
    finally:
        wb.close()
    if as_json:
        click.echo(json.dumps([a.as_dict() for a in found], indent=2))
        return
    if not found:
        click.echo("no apps yet: atelier apps create NAME --model MODEL@ALIAS")
        return
    for app in found:
        what = (
            app.model
            if app.model
            else f"{app.kind}" + (f" in {app.project}" if app.project else "")
        )
        shared = "everyone" if app.shared_with_all else (", ".join(app.shared_with) or "nobody")
        click.echo(f"{app.name:<24} {app.status:<8} {what:<28} shared with {shared}")


@apps.command("share")
@workspace_option
@click.argument("name")
@click.option("--user", "users", multiple=True, help="Share with this user (repeatable).")
@click.option("--everyone", is_flag=True, help="Share with every logged-in user.")
@click.option("--remove", multiple=True, help="Stop sharing with this user (repeatable).")
@click.option("--not-everyone", is_flag=True, help="Stop sharing with every logged-in user.")
def share(
    workspace: str | None,
    name: str,
    users: tuple[str, ...],
    everyone: bool,
    remove: tuple[str, ...],
    not_everyone: bool,
) -> None:
    """Share app NAME with named users or with every logged-in user."""
    if everyone and not_everyone:
        raise click.UsageError("--everyone and --not-everyone contradict each other")
    if not (users or everyone or remove or not_everyone):
        raise click.UsageError("say whom to share with: --user NAME, --everyone, --remove NAME")
    wb = open_workbench(workspace, doing="share apps")
    try:
        flag = True if everyone else (False if not_everyone else None)
        app = wb.apps.share(
            name, acting(wb), users=list(users), everyone=flag, remove=list(remove), client="cli"
        )
    finally:
        wb.close()
    shared = (
        "every logged-in user" if app.shared_with_all else (", ".join(app.shared_with) or "nobody")
    )
    click.echo(f"app {app.name} is shared with {shared}")


def _lifecycle(action: str, help_text: str) -> None:
    @apps.command(action, help=help_text)
    @workspace_option
    @click.argument("name")
    def command(workspace: str | None, name: str) -> None:
        wb = open_workbench(workspace, doing=f"{action} apps")
        try:
            app = getattr(wb.apps, action)(name, acting(wb), client="cli")
        finally:
            wb.close()
        done = {"pause": "paused", "resume": "resumed", "delete": "deleted"}[action]
        click.echo(f"app {app.name} {done}")


_lifecycle("pause", "Pause app NAME: its users cannot open it until it is resumed.")
_lifecycle("resume", "Resume the paused app NAME.")
_lifecycle("delete", "Delete app NAME (its feedback table stays in the warehouse).")


@apps.command("logs")
@workspace_option
@click.argument("name")
@click.option("--lines", "-n", default=200, show_default=True, help="How many last lines.")
def logs(workspace: str | None, name: str, lines: int) -> None:
    """The last lines a hosted app wrote (standard output and errors)."""
    wb = open_workbench(workspace, doing="read app logs")
    try:
        wb.apps.registry.get(name)
        text = wb.apps.logs(name, acting(wb), max(1, lines))
    finally:
        wb.close()
    click.echo(text.rstrip("\n") if text else f"app {name} has written nothing yet")


def register(cli: click.Group) -> None:
    cli.add_command(apps)

"""Workspace commands: init, up, login-link, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from atelier.cli.options import acting, open_workbench, workspace_option
from atelier.sdk.rules import EVERYONE, require

if TYPE_CHECKING:
    from atelier.services.workbench import Workbench

DEMO_WORKSPACE = "demo-workspace"
SCALE_OPTION = click.option(
    "--scale",
    type=click.FloatRange(0.001, 100),
    default=1.0,
    show_default=True,
    help="Size of the demo bank (1.0: 10k customers, 1M transactions).",
)


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create a workspace in DIRECTORY (default: here): atelier.toml and its folders."""
    from atelier.config import init_workspace

    root, created = init_workspace(Path(directory))
    if created:
        click.echo(f"Created workspace {root}")
    else:
        click.echo(f"Workspace {root} already exists; its atelier.toml was kept")


@click.command()
@workspace_option
@click.option("--host", help="Address to bind [default: server.host, 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: server.port, 8700].")
@click.option(
    "--demo",
    is_flag=True,
    help=f"Use the demo workspace (./{DEMO_WORKSPACE} unless --workspace is given), "
    "creating it and loading the demo bank, its churn model and app if needed.",
)
@SCALE_OPTION
def up(workspace: str | None, host: str | None, port: int | None, demo: bool, scale: float) -> None:
    """Start the Atelier server (portal and API) on this workspace."""
    from atelier.config import init_workspace
    from atelier.server.run import serve

    if demo:
        root, _ = init_workspace(Path(workspace or DEMO_WORKSPACE))
        workspace = str(root)
    wb = open_workbench(workspace, roles=EVERYONE, doing="start the server")
    if demo:
        require(acting(wb), ("admin",), "load the demo")
        _load_demo(wb, scale)
    server = wb.settings.server
    if host:
        server.host = host
    if port:
        server.port = port
    url = wb.workspace.public_url
    click.echo(f"Atelier {wb.workspace.root} ({server.mode} mode) at {url}")
    if server.mode == "single":
        owner = acting(wb)
        code = wb.sessions.create_link(owner.name)
        click.echo(
            f"Log in as {owner.name} (one-time link, valid "
            f"{wb.settings.auth.login_link_minutes} minutes):"
        )
        click.echo(f"  {url}/login/link?code={code}")
    elif wb.users.count() == 0:
        click.echo(
            "No users yet: create the first admin with `atelier users create NAME --role admin`"
        )
    serve(wb, server.host, server.port)


def _load_demo(wb: Workbench, scale: float) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from atelier.server.host import load_demo

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("Checking the demo bank", total=None)
        lines = load_demo(wb, acting(wb), scale, lambda step: bar.update(task, description=step))
    for line in lines:
        click.echo(line)


@click.command()
@workspace_option
@SCALE_OPTION
def demo(workspace: str | None, scale: float) -> None:
    """Load the demo bank, its churn model (churn@champion) and the app for it.

    The bank holds synthetic customers, accounts, transactions, tickets and churn labels; the
    model is trained on it, registered and published as the app churn for every logged-in
    user. What exists already is kept."""
    _load_demo(open_workbench(workspace, roles=("admin",), doing="load the demo"), scale)


@click.command("login-link")
@workspace_option
@click.option("--user", "user_name", help="Account to log in as (admins only) [default: you].")
def login_link(workspace: str | None, user_name: str | None) -> None:
    """Print a one-time link that logs into the portal."""
    from atelier.server.host import login_link

    wb = open_workbench(workspace, roles=EVERYONE, doing="make login links")
    me = acting(wb)
    click.echo(login_link(wb, me, user_name or me.name, client="cli"))


@click.command()
@workspace_option
def config(workspace: str | None) -> None:
    """Show the validated configuration (atelier.toml merged with ATELIER_* variables)."""
    from atelier.config import Workspace, find_workspace

    ws = Workspace.open(find_workspace(workspace))
    click.echo(json.dumps({"workspace": str(ws.root), **ws.settings.model_dump()}, indent=2))


def register(group: click.Group) -> None:
    for command in (init, up, demo, login_link, config):
        group.add_command(command)

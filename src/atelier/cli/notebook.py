"""``atelier notebook``: open JupyterLab, starting the server when it is not running."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import click

from atelier.cli.options import acting, open_workbench, workspace_option

if TYPE_CHECKING:
    from atelier.services.workbench import Workbench

LAB = "/notebooks/lab"


def _link(wb: Workbench, user: str | None) -> str:
    from atelier.server.host import login_link

    me = acting(wb)
    return login_link(wb, me, user or me.name, client="cli", next=LAB)


def _open(link: str, browser: bool) -> None:
    click.echo(f"JupyterLab (one-time login link):\n  {link}")
    if browser:
        import webbrowser

        webbrowser.open(link)


@click.command()
@workspace_option
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: server.port, 8700].")
@click.option("--user", "user_name", help="Account to log in as (admins only) [default: you].")
@click.option("--no-browser", is_flag=True, help="Print the link without opening a browser.")
def notebook(
    workspace: str | None, port: int | None, user_name: str | None, no_browser: bool
) -> None:
    """Open JupyterLab in the browser, starting the Atelier server here if it is not running.

    A server that is already running is reused: the command prints a one-time login link to
    /notebooks/lab and returns. Otherwise it serves in the foreground until Ctrl-C, like
    `atelier up`.
    """
    from atelier.server.host import server_up

    wb = open_workbench(workspace)
    server = wb.settings.server
    if port:
        server.port = port
    url = wb.workspace.public_url
    if server_up(url):
        _open(_link(wb, user_name), not no_browser)
        return

    from atelier.server.run import serve

    def when_up() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server_up(url):
                _open(_link(wb, user_name), not no_browser)
                return
            time.sleep(0.2)
        click.echo(f"error: the server at {url} did not answer within 2 minutes", err=True)

    click.echo(f"Starting Atelier {wb.workspace.root} ({server.mode} mode) at {url}")
    threading.Thread(target=when_up, daemon=True).start()
    serve(wb, server.host, server.port)


def register(group: click.Group) -> None:
    group.add_command(notebook)

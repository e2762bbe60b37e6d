"""``atelier serve NAME@ALIAS``: a prediction endpoint for a registered model.

Models are served by the Atelier server itself (in-process, predictions logged): this
command checks that the model loads and has a signature, prints its endpoint with an example
request, and runs the server unless one already answers at the workspace's address.
"""

from __future__ import annotations

import click

from atelier.cli.options import open_workbench, workspace_option


@click.command()
@workspace_option
@click.argument("model")
@click.option("--host", help="Interface to listen on [default: server.host].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: server.port].")
def serve(workspace: str | None, model: str, host: str | None, port: int | None) -> None:
    """Serve MODEL (NAME@ALIAS, or NAME for its newest version) over HTTP."""
    from atelier.server.host import model_endpoint, server_up
    from atelier.server.run import serve as run_server

    wb = open_workbench(workspace, scopes=("predict",))
    server = wb.settings.server
    if host:
        server.host = host
    if port:
        server.port = port
    try:
        endpoint = model_endpoint(wb, model)
        click.echo(f"{endpoint.name} version {endpoint.version} ({', '.join(endpoint.flavors)})")
        click.echo(f"  POST {endpoint.url}")
        click.echo(
            f"  curl -H 'Authorization: Bearer $ATELIER_TOKEN' -H 'Content-Type: application/json' "
            f"-d '{endpoint.example}' '{endpoint.url}'"
        )
        url = wb.workspace.public_url
        running = server_up(url)
    except BaseException:
        wb.close()
        raise
    if running:
        wb.close()
        click.echo(f"the Atelier server at {url} serves it already")
        return
    click.echo(f"starting the Atelier server at {url} (Ctrl-C stops it)")
    run_server(wb, server.host, server.port)  # closes the workbench when it stops


def register(group: click.Group) -> None:
    group.add_command(serve)

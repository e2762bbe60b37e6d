"""``atelier serve NAME@ALIAS``: a prediction endpoint for a registered model.

Models are served by the Atelier server itself (in-process, predictions logged): this
command checks that the model loads and has a signature, prints its endpoint with an example
request, and runs the server unless one already answers at the workspace's address.
"""

from __future__ import annotations

import json

import click

from atelier.cli.options import open_workbench, workspace_option


@click.command()
@workspace_option
@click.argument("model")
@click.option("--host", help="Interface to listen on [default: server.host].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: server.port].")
def serve(workspace: str | None, model: str, host: str | None, port: int | None) -> None:
    """Serve MODEL (NAME@ALIAS, or NAME for its newest version) over HTTP."""
    from atelier.server.run import serve as run_server
    from atelier.services.jobs.links import server_up
    from atelier.services.tracking.references import parse_reference

    wb = open_workbench(workspace, scopes=("predict",))
    server = wb.settings.server
    if host:
        server.host = host
    if port:
        server.port = port
    try:
        ref = parse_reference(model)
        loaded = wb.serving.model(ref)
        if loaded.schema is None:
            raise click.ClickException(
                f"model {loaded.name} version {loaded.version} has no column signature: log it "
                "with a signature to serve it"
            )
        url = wb.workspace.public_url
        query = f"?alias={ref.alias}" if ref.alias else f"?version={loaded.version}"
        endpoint = f"{url}/api/v1/models/{loaded.name}/predict{query}"
        example = json.dumps(loaded.example[0] if loaded.example else {})
        click.echo(f"{loaded.name} version {loaded.version} ({', '.join(loaded.flavors)})")
        click.echo(f"  POST {endpoint}")
        click.echo(
            f"  curl -H 'Authorization: Bearer $ATELIER_TOKEN' -H 'Content-Type: application/json' "
            f"-d '{example}' '{endpoint}'"
        )
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

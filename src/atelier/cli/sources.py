"""``atelier sources``: attach read-only databases and file folders (adding and removing
them is for admins, as in the API). Passwords and keys are read from stdin or a prompt, never
from the command line, and never printed."""

from __future__ import annotations

import json

import click

from atelier.cli.options import client_for, workspace_option

ADMIN = ("admin",)

TYPES = ("postgres", "mysql", "sqlite", "parquet", "csv", "s3")


@click.group()
def sources() -> None:
    """Attached sources: add, list, test, remove."""


@sources.command("add")
@workspace_option
@click.argument("name")
@click.option("--type", "kind", type=click.Choice(TYPES), required=True, help="Source type.")
@click.option("--host", help="postgres/mysql: server host.")
@click.option("--port", type=click.IntRange(1, 65535), help="postgres/mysql: server port.")
@click.option("--database", help="postgres/mysql: database name.")
@click.option("--user", help="postgres/mysql: user name (give it read-only rights).")
@click.option("--path", help="sqlite/parquet/csv: file or folder (on the server, when remote).")
@click.option("--bucket", help="s3: bucket name.")
@click.option("--prefix", help="s3: key prefix (a folder) in the bucket.")
@click.option("--region", help="s3: region, e.g. eu-west-1.")
@click.option("--endpoint", help="s3: endpoint of an S3-compatible store (host[:port]).")
@click.option("--format", "file_format", type=click.Choice(["parquet", "csv"]), help="s3 files.")
@click.option("--table", help="s3: name of the table (view) [default: last prefix part].")
@click.option("--url-style", type=click.Choice(["path", "vhost"]), help="s3: URL style.")
@click.option("--no-ssl", is_flag=True, help="s3: plain HTTP (a local test store).")
@click.option("--key-id", help="s3: access key id (the secret key is read like a password).")
@click.option("--description", default="", help="What the source holds.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password (s3: the secret access key) from standard input.",
)
@click.option("--ask-password", is_flag=True, help="Prompt for the password (s3: secret key).")
def add(
    workspace: str | None,
    name: str,
    kind: str,
    description: str,
    password_stdin: bool,
    ask_password: bool,
    key_id: str | None,
    no_ssl: bool,
    file_format: str | None,
    **fields: object,
) -> None:
    """Attach source NAME; its tables become NAME.schema.table in SQL and the catalog.

    The connection is tested first; nothing is saved when it fails.
    """
    from atelier.cli.options import sys_stdin_line

    options = {key: value for key, value in fields.items() if value is not None}
    if file_format:
        options["format"] = file_format
    if no_ssl:
        options["use_ssl"] = False
    secret = None
    if password_stdin:
        secret = sys_stdin_line()
        if not secret:
            raise click.UsageError("--password-stdin given but standard input was empty")
    elif ask_password:
        secret = click.prompt("Password", hide_input=True)
    secrets: dict[str, str] = {}
    if secret:
        secrets["secret" if kind == "s3" else "password"] = secret
    if key_id:
        secrets["key_id"] = key_id
    with client_for(workspace, roles=ADMIN, doing="add sources") as client:
        info = client.add_source(
            name, kind, options=options, secrets=secrets, description=description
        )
        tables = client.source_tables(info["name"])
    click.echo(f"Added {info['type']} source {info['name']} with {len(tables)} table(s)")
    for table in tables[:20]:
        click.echo(f"  {table['name']}")


@sources.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_sources(workspace: str | None, as_json: bool) -> None:
    """List sources (never their passwords or keys)."""
    with client_for(workspace, scopes=("data",), doing="list sources") as client:
        listed = client.sources()
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    if not listed:
        click.echo("No sources.")
    for s in listed:
        where = " ".join(f"{k}={v}" for k, v in s["options"].items())
        click.echo(f"{s['name']:<20} {s['type']:<8} {where}")


@sources.command("test")
@workspace_option
@click.argument("name")
def test(workspace: str | None, name: str) -> None:
    """Connect to source NAME and list its tables."""
    with client_for(workspace, scopes=("data",), doing="test sources") as client:
        tables = client.source_tables(name)
    click.echo(f"{name}: reachable, {len(tables)} table(s)")
    for table in tables:
        click.echo(f"  {table['name']}")


@sources.command("remove")
@workspace_option
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(workspace: str | None, name: str, yes: bool) -> None:
    """Detach source NAME (its data is not touched)."""
    with client_for(workspace, roles=ADMIN, doing="remove sources") as client:
        client.source(name)
        if not yes:
            click.confirm(f"Remove source {name}?", abort=True)
        client.remove_source(name)
    click.echo(f"Removed source {name}")


def register(group: click.Group) -> None:
    """Add the commands to ``group``."""
    group.add_command(sources)

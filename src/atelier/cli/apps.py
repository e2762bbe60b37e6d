"""``atelier apps``: publish models as apps, host Streamlit/Dash apps, share, pause, delete.

Each command works through the SDK client (:func:`~atelier.cli.options.client_for`): on the
workspace, acting as the person ATELIER_TOKEN names (or the local admin), or against
``ATELIER_URL`` from anywhere, a laptop included (``apps deploy`` then ships the app's folder
to the server). Whoever publishes an app owns it; the apps service checks who may change what
and records the audit entries. A running server picks changes made on its workspace up at the
next request (a deployed app starts, or restarts, on its next visit).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from atelier.cli.options import client_for, workspace_option
from atelier.sdk.rules import BUILDERS, EVERYONE

#: What a code token needs to list and read apps (as the API); managing them takes a person.
USE = ("predict",)


@click.group()
def apps() -> None:
    """Apps: generated from a model, or hosted Streamlit/Dash scripts and folders."""


@apps.command("create")
@workspace_option
@click.argument("name")
@click.option("--model", "model", required=True, help="Registered model: NAME@ALIAS or NAME.")
@click.option("--title", default="", help="Title shown on the app [default: from the model].")
@click.option("--description", default="", help="What the app is for, shown under the title.")
def create(workspace: str | None, name: str, model: str, title: str, description: str) -> None:
    """Publish app NAME generated from MODEL's signature and input example."""
    with client_for(workspace, roles=BUILDERS, doing="publish apps") as client:
        app = client.apps.create(name, model, title=title, description=description)
        click.echo(f"app {app['name']} serves {app['model']}: {client.apps.address(app)}")
    click.echo(f"share it: atelier apps share {app['name']} --user NAME (or --everyone)")


@apps.command("deploy")
@workspace_option
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="App name (its address is /apps/NAME/).")
@click.option(
    "--entry", help="A folder's script to run [default: app.py, streamlit_app.py, main.py]."
)
@click.option("--project", help="Project whose environment runs the app.")
@click.option(
    "--kind", type=click.Choice(["streamlit", "dash"]), help="[default: detected from the script]"
)
@click.option("--title", default="", help="Title in the apps list.")
def deploy(
    workspace: str | None,
    path: Path,
    name: str,
    entry: str | None,
    project: str | None,
    kind: str | None,
    title: str,
) -> None:
    """Host the Streamlit or Dash app at PATH as /apps/NAME/, behind Atelier's login.

    PATH is one script, or a folder shipped whole (its .gitignore's simple patterns, .git,
    virtualenvs and caches left out) with --entry as the script to run."""
    if entry is not None and not path.is_dir():
        raise click.UsageError("--entry names the script of a folder: give the folder as PATH")
    with client_for(workspace, roles=BUILDERS, doing="deploy apps") as client:
        app = client.apps.deploy(name, path, entry=entry, project=project, kind=kind, title=title)
        click.echo(f"{app['kind']} app {app['name']} deployed: {client.apps.address(app)}")
    click.echo("the server starts it on its next visit; logs: atelier apps logs " + app["name"])


@apps.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_apps(workspace: str | None, as_json: bool) -> None:
    """Every app you may use, with its model or script, status and sharing."""
    with client_for(workspace, roles=EVERYONE, scopes=USE, doing="list apps") as client:
        found = client.apps.list()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no apps yet: atelier apps create NAME --model MODEL@ALIAS")
        return
    for app in found:
        click.echo(
            f"{app['name']:<24} {app['status']:<8} {_what(app):<28} shared with {_shared(app)}"
        )


@apps.command("show")
@workspace_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(workspace: str | None, name: str, as_json: bool) -> None:
    """App NAME: what it serves or runs, its owner, status and sharing; a generated app's
    form."""
    with client_for(workspace, roles=EVERYONE, scopes=USE, doing="read apps") as client:
        app = client.apps.get(name)
        address = client.apps.address(app)
    if as_json:
        click.echo(json.dumps(app, indent=2))
        return
    click.echo(f"{app['name']}  {app['title']}  ({app['status']})")
    if app["description"]:
        click.echo(f"  {app['description']}")
    version = f" (version {app['model_version']})" if app.get("model_version") else ""
    click.echo(f"  {_what(app)}{version}, owned by {app['owner']}")
    click.echo(f"  shared with {_shared(app)}")
    click.echo(f"  {address}")
    for field in app.get("form") or []:
        if field.get("personal"):
            said = f"personal data: {field['personal']}"
        else:
            said = f"e.g. {field['default']!r}"
        click.echo(f"  {field['name']:<24} {field['widget']:<10} {said}")


@apps.command("personal")
@workspace_option
@click.argument("name")
@click.argument("field")
@click.argument("kind")
def personal(workspace: str | None, name: str, field: str, kind: str) -> None:
    """Mark FIELD of generated app NAME as personal data of KIND (email, person_name, phone,
    ...): masked in the prediction log and feedback, marked on the form. KIND "none" says
    it is not personal (a classifier's guess taken back), "auto" takes the mark off."""
    with client_for(workspace, roles=BUILDERS, doing="mark apps' personal fields") as client:
        found = client.apps.mark_personal(name, field, kind)
    if not found:
        click.echo(f"app {name}: no personal fields")
    for item in found:
        click.echo(f"{item['name']:<24} {item['kind']:<20} ({item['source']})")


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
    flag = True if everyone else (False if not_everyone else None)
    with client_for(workspace, roles=BUILDERS, doing="share apps") as client:
        app = client.apps.share(name, users=users, everyone=flag, remove=remove)
    shared = "every logged-in user" if app["shared_with_all"] else _shared(app)
    click.echo(f"app {app['name']} is shared with {shared}")


def _lifecycle(action: str, help_text: str) -> None:
    @apps.command(action, help=help_text)
    @workspace_option
    @click.argument("name")
    def command(workspace: str | None, name: str) -> None:
        with client_for(workspace, roles=BUILDERS, doing=f"{action} apps") as client:
            app = getattr(client.apps, action)(name)
        done = {"pause": "paused", "resume": "resumed", "delete": "deleted"}[action]
        click.echo(f"app {app['name']} {done}")


_lifecycle("pause", "Pause app NAME: its users cannot open it until it is resumed.")
_lifecycle("resume", "Resume the paused app NAME.")
_lifecycle("delete", "Delete app NAME (its feedback table stays in the warehouse).")


@apps.command("logs")
@workspace_option
@click.argument("name")
@click.option("--lines", "-n", default=200, show_default=True, help="How many last lines.")
def logs(workspace: str | None, name: str, lines: int) -> None:
    """The last lines a hosted app wrote (standard output and errors)."""
    with client_for(workspace, roles=BUILDERS, doing="read app logs") as client:
        found = client.apps.logs(name, max(1, lines))
    text = found["logs"]
    click.echo(text.rstrip("\n") if text else f"app {name} has written nothing yet")


@apps.command("build")
@workspace_option
@click.argument("name")
@click.option(
    "--context",
    "context_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Only write the build context (Containerfile, lock, wheels, the app) to this new or "
    "empty folder, for a build elsewhere.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "podman", "docker", "buildah"]),
    help="podman, docker or buildah (containers.engine).",
)
@click.option("--base", help="The base image (containers.base_image), e.g. python:3.11-slim.")
@click.option(
    "--tag", "-t", help="The image's name (default atelier-app/NAME:vVERSION, hosted :latest)."
)
def build(
    workspace: str | None,
    name: str,
    context_dir: Path | None,
    engine: str | None,
    base: str | None,
    tag: str | None,
) -> None:
    """Build the container image of app NAME. A generated app: its model version's image
    (the model, its locked environment, the serving runtime) with the app's form at /. A
    hosted Streamlit/Dash app: its files on its project's uv.lock, installed offline from a
    wheelhouse, answering on port 8080. The app's owner or an admin."""
    with client_for(workspace, roles=BUILDERS, doing="build app images") as client:
        if context_dir is not None:
            made = client.apps.build_context(name, context_dir, base=base, tag=tag)
            click.echo(f"Wrote the build context of app {made['app']} to {made['folder']}")
            click.echo(f"  build it with: podman build -t IMAGE {made['folder']}")
            return
        if sys.stderr.isatty():
            click.echo(
                f"Building the image of app {name} (the first build takes minutes)…", err=True
            )
        built = client.apps.build(name, engine=engine, base=base, tag=tag)
    size = f"{built['size'] / 1_000_000:.0f} MB" if built["size"] else "size unknown"
    serves = (
        f"{built['model']} version {built['version']}"
        if built["model"]
        else f"{built['kind']} on project {built['project']}"
    )
    click.echo(
        f"Built {built['image']} for app {built['app']} ({serves}; {size}, "
        f"{built['image_id'][:19]}, {built['seconds']:.0f} s with {built['engine']})"
    )


def _what(app: dict[str, Any]) -> str:
    if app["model"]:
        return str(app["model"])
    return str(app["kind"]) + (f" in {app['project']}" if app["project"] else "")


def _shared(app: dict[str, Any]) -> str:
    if app["shared_with_all"]:
        return "everyone"
    return ", ".join(app["shared_with"]) or "nobody"


def register(cli: click.Group) -> None:
    cli.add_command(apps)

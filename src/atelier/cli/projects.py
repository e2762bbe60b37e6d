"""``atelier projects`` (create, list, show, members, pull, push) and ``atelier env`` (add,
remove, show, sync a project's Python environment).

Every command goes through the SDK client: with ``ATELIER_URL``/``ATELIER_TOKEN`` set (a laptop,
a notebook terminal) it acts on the server as that user, else on the local workspace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from atelier.cli.options import client_for, workspace_option

T = TypeVar("T")
#: What a code token (a job's, a notebook's) needs for the commands that admit one.
SCOPES = ("projects",)


@contextmanager
def spinner(message: str) -> Iterator[None]:
    """A Rich spinner on stderr while uv works (nothing when stderr is not a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


def _with_spinner(message: str, work: Callable[[], T]) -> T:
    with spinner(message):
        return work()


# -- projects --------------------------------------------------------------------------


@click.group()
def projects() -> None:
    """Projects: a folder with notebooks, code and its own Python environment."""


@projects.command("create")
@workspace_option
@click.argument("name")
@click.option("--description", default="", help="What the project is about.")
@click.option(
    "--from",
    "from_git",
    metavar="GIT_URL",
    help="Clone this git repository into the project (https://, ssh://, git@host:path, or a "
    "local repository below [projects] clone_roots).",
)
def create(workspace: str | None, name: str, description: str, from_git: str | None) -> None:
    """Create project NAME: a git repository with notebooks/, src/, pyproject.toml, uv.lock
    and a uv environment with ipykernel (you become its owner)."""
    with client_for(workspace, doing="create projects", scopes=SCOPES) as client:
        project = _with_spinner(
            f"Creating project {name} and its environment…",
            lambda: client.projects.create(name, description, from_git=from_git),
        )
    click.echo(f"Created project {project['name']} in {project['path']}")
    click.echo(f"  Python: {project['python']}")
    click.echo(f"  Add packages with `atelier env add PACKAGE --project {project['name']}`")


@projects.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_projects(workspace: str | None, as_json: bool) -> None:
    """List projects and their owners."""
    with client_for(workspace, doing="list projects", scopes=SCOPES) as client:
        listed = client.projects.list()
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    if not listed:
        click.echo("No projects. Create one with `atelier projects create NAME`.")
    for p in listed:
        owners = ",".join(m["name"] for m in p["members"] if m["role"] == "owner")
        click.echo(
            f"{p['name']:<24} {len(p['members']):>3} member(s)  owner: {owners:<16} "
            f"{p['description']}".rstrip()
        )


@projects.command("show")
@workspace_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(workspace: str | None, name: str, as_json: bool) -> None:
    """Show project NAME: folder, members and environment."""
    with client_for(workspace, doing="see projects", scopes=SCOPES) as client:
        project = client.projects.get(name)
        env = client.projects.env_show(name)
    if as_json:
        click.echo(json.dumps({**project, "environment": env}, indent=2))
        return
    click.echo(f"{project['name']}: {project['description']}".rstrip(": "))
    click.echo(f"  folder:  {project['path']}")
    click.echo(f"  python:  {project['python']}")
    created = str(project["created_at"])[:16].replace("T", " ")
    click.echo(f"  created: {created} by {project['created_by'] or '?'}")
    click.echo("  members: " + ", ".join(f"{m['name']} ({m['role']})" for m in project["members"]))
    click.echo("  requires: " + ", ".join(env["requirements"]))


@projects.group("members")
def members() -> None:
    """Add or remove members of a project."""


@members.command("add")
@workspace_option
@click.argument("name")
@click.argument("user")
@click.option(
    "--role",
    type=click.Choice(["owner", "editor", "reader"]),
    default=None,
    help="owner: manages members; editor [default]: changes the project and runs its code; "
    "reader: sees its notebooks and runs.",
)
@click.option("--owner", is_flag=True, help="The same as --role owner.")
def add_member(workspace: str | None, name: str, user: str, role: str | None, owner: bool) -> None:
    """Add USER to project NAME (or change their role)."""
    if owner and role not in (None, "owner"):
        raise click.UsageError(f"--owner and --role {role} disagree: give one of them")
    role = "owner" if owner else role or "editor"
    with client_for(workspace, doing="manage project members") as client:
        client.projects.add_member(name, user, role=role)
    article = "an" if role[0] in "aeo" else "a"
    click.echo(f"{user} is now {article} {role} of project {name}")


@members.command("remove")
@workspace_option
@click.argument("name")
@click.argument("user")
def remove_member(workspace: str | None, name: str, user: str) -> None:
    """Remove USER from project NAME."""
    with client_for(workspace, doing="manage project members") as client:
        client.projects.remove_member(name, user)
    click.echo(f"Removed {user} from project {name}")


@projects.command("pull")
@workspace_option
@click.argument("name")
@click.argument("dest", required=False, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Pull into a folder that is not empty.")
def pull(workspace: str | None, name: str, dest: str | None, force: bool) -> None:
    """Copy project NAME's files into DEST [default: ./NAME]: notebooks, src/,
    pyproject.toml and uv.lock (not its .venv, nor what .gitignore ignores), so that
    `uv sync` there gives the project's environment. Members and admins only."""
    with client_for(workspace, doing="pull projects") as client:
        pulled = client.projects.pull(name, dest, force=force)
    click.echo(f"Pulled project {name} into {pulled['path']} ({len(pulled['files'])} files)")
    click.echo(f"  Next: cd {pulled['path']} && uv sync; push back with `atelier projects push`")


@projects.command("push")
@workspace_option
@click.argument("name", required=False)
@click.option(
    "--path",
    "folder",
    type=click.Path(file_okay=False, exists=True),
    help="The folder to push [default: the pulled project holding the current folder].",
)
@click.option("--force", is_flag=True, help="Overwrite files that changed on the server.")
def push(workspace: str | None, name: str | None, folder: str | None, force: bool) -> None:
    """Send a pulled project's files back to project NAME [default: the one it was pulled
    from]: what git would commit (.gitignore respected), never .venv. Files changed on the
    server since the pull stop the push (nothing is written) unless --force; a changed uv.lock
    is installed on the server. Members and admins only."""
    with client_for(workspace, doing="push projects") as client:
        pushed = _with_spinner(
            "Pushing…", lambda: client.projects.push(folder, project=name, force=force)
        )
    written, deleted = len(pushed["written"]), len(pushed["deleted"])
    click.echo(
        f"Pushed {pushed['path']} to project {pushed['project']}: {written} written, "
        f"{deleted} deleted"
    )
    if pushed["kept"]:
        click.echo(f"  Only on the server (kept): {', '.join(pushed['kept'][:10])}")
    if pushed["newer"]:
        click.echo(
            f"  Newer on the server (kept; pull again to get them): "
            f"{', '.join(pushed['newer'][:10])}"
        )
    if pushed["environment"] == "synced":
        click.echo("  The server's environment now matches the pushed uv.lock")


# -- env -------------------------------------------------------------------------------


def project_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--project",
        "-p",
        help="Project name [default: the project holding the current folder (a workspace's "
        "project or a pulled one), else ATELIER_PROJECT].",
    )(func)


def resolve_project(project: str | None) -> str:
    """--project, else the project the current folder is in, else ATELIER_PROJECT."""
    from atelier.sdk.projects import project_name

    name = project_name(project, here=Path.cwd())
    if not name:
        raise click.UsageError(
            "which project? pass --project NAME, run this inside a project folder (or a pulled "
            "one), or set ATELIER_PROJECT"
        )
    return name


@click.group()
def env() -> None:
    """A project's Python environment: add, remove, show packages (uv)."""


@env.command("add")
@workspace_option
@project_option
@click.argument("packages", nargs=-1, required=True)
def env_add(workspace: str | None, project: str | None, packages: tuple[str, ...]) -> None:
    """Install PACKAGES (name or name==version) into the project's environment and lock them.

    If anything does not resolve, nothing changes and uv's reason is shown.
    """
    from atelier.contract.projects import requirement_name

    name = resolve_project(project)
    with client_for(workspace, doing="change environments", scopes=SCOPES) as client:
        shown = _with_spinner(
            f"Resolving and installing {' '.join(packages)} in {name}…",
            lambda: client.projects.env_change(name, "add", list(packages)),
        )
    versions = {p["name"]: p["version"] for p in shown["packages"]}
    for spec in packages:
        package = requirement_name(spec)
        click.echo(f"Added {package} {versions.get(package, '?')} to {name}")


@env.command("remove")
@workspace_option
@project_option
@click.argument("packages", nargs=-1, required=True)
def env_remove(workspace: str | None, project: str | None, packages: tuple[str, ...]) -> None:
    """Uninstall PACKAGES from the project's environment and drop them from its lock."""
    name = resolve_project(project)
    with client_for(workspace, doing="change environments", scopes=SCOPES) as client:
        _with_spinner(
            f"Removing {' '.join(packages)} from {name}…",
            lambda: client.projects.env_change(name, "remove", list(packages)),
        )
    click.echo(f"Removed {' '.join(packages)} from {name}")


@env.command("show")
@workspace_option
@project_option
@click.option("--all", "show_all", is_flag=True, help="Also list indirect dependencies.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def env_show(workspace: str | None, project: str | None, show_all: bool, as_json: bool) -> None:
    """Show the project's requirements and their locked versions."""
    name = resolve_project(project)
    with client_for(workspace, doing="see environments", scopes=SCOPES) as client:
        shown = client.projects.env_show(name)
    if as_json:
        click.echo(json.dumps(shown, indent=2))
        return
    click.echo(f"Project {name}, Python {shown['requires_python']}")
    click.echo("Requirements: " + ", ".join(shown["requirements"]))
    packages = [p for p in shown["packages"] if show_all or p["direct"]]
    click.echo(f"Locked ({'all' if show_all else 'direct'}):")
    for p in packages:
        click.echo(f"  {p['name']:<32} {p['version']}")
    hidden = len(shown["packages"]) - len(packages)
    if hidden:
        click.echo(f"  … and {hidden} indirect dependencies (--all lists them)")


@env.command("sync")
@workspace_option
@project_option
def env_sync(workspace: str | None, project: str | None) -> None:
    """Make the project's environment (on the server, or the local workspace) match its
    uv.lock again (e.g. after editing it by hand)."""
    name = resolve_project(project)
    with client_for(workspace, doing="change environments", scopes=SCOPES) as client:
        _with_spinner(f"Syncing {name}…", lambda: client.projects.env_sync(name))
    click.echo(f"Environment of {name} matches its uv.lock")


def register(group: click.Group) -> None:
    """Add the commands to ``group``."""
    group.add_command(projects)
    group.add_command(env)

"""``atelier projects`` (create, list, show, members) and ``atelier env`` (add, remove, show,
sync a project's Python environment).

``atelier projects`` acts on the local workspace as its owner. ``atelier env`` goes through the
SDK: with ``ATELIER_URL``/``ATELIER_TOKEN`` set (as in a notebook terminal) it acts on the
server as that user, else on the local workspace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from atelier.cli.options import acting, open_workbench, workspace_option

T = TypeVar("T")


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
def create(workspace: str | None, name: str, description: str) -> None:
    """Create project NAME: notebooks/, src/, pyproject.toml, uv.lock and a uv environment
    with ipykernel (you become its owner)."""
    wb = open_workbench(workspace, scopes=("projects",), doing="create projects")
    owner = acting(wb)
    project = _with_spinner(
        f"Creating project {name} and its environment…",
        lambda: wb.projects.create(name, owner, description, client="cli"),
    )
    click.echo(f"Created project {project.name} in {project.path}")
    click.echo(f"  Python: {project.python}")
    click.echo(f"  Add packages with `atelier env add PACKAGE --project {project.name}`")


@projects.command("list")
@workspace_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_projects(workspace: str | None, as_json: bool) -> None:
    """List projects and their owners."""
    listed = open_workbench(workspace, scopes=("projects",)).projects.list()
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in listed], indent=2))
        return
    if not listed:
        click.echo("No projects. Create one with `atelier projects create NAME`.")
    for p in listed:
        owners = ",".join(m.name for m in p.members if m.role == "owner")
        click.echo(
            f"{p.name:<24} {len(p.members):>3} member(s)  owner: {owners:<16} {p.description}"
        )


@projects.command("show")
@workspace_option
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(workspace: str | None, name: str, as_json: bool) -> None:
    """Show project NAME: folder, members and environment."""
    wb = open_workbench(workspace, scopes=("projects",))
    project = wb.projects.get(name)
    env = wb.projects.env.show(name)
    if as_json:
        click.echo(json.dumps({**project.as_dict(), "environment": env.as_dict()}, indent=2))
        return
    click.echo(f"{project.name}: {project.description}".rstrip(": "))
    click.echo(f"  folder:  {project.path}")
    click.echo(f"  python:  {project.python}")
    click.echo(f"  created: {project.created_at:%Y-%m-%d %H:%M} by {project.created_by or '?'}")
    click.echo("  members: " + ", ".join(f"{m.name} ({m.role})" for m in project.members))
    click.echo("  requires: " + ", ".join(env.requirements))


@projects.group("members")
def members() -> None:
    """Add or remove members of a project."""


@members.command("add")
@workspace_option
@click.argument("name")
@click.argument("user")
@click.option("--owner", is_flag=True, help="Make USER an owner (owners manage members).")
def add_member(workspace: str | None, name: str, user: str, owner: bool) -> None:
    """Add USER to project NAME (or change their role)."""
    wb = open_workbench(workspace)
    role = "owner" if owner else "member"
    wb.projects.add_member(name, user, acting(wb), role=role, client="cli")
    click.echo(f"{user} is now {'an owner' if owner else 'a member'} of project {name}")


@members.command("remove")
@workspace_option
@click.argument("name")
@click.argument("user")
def remove_member(workspace: str | None, name: str, user: str) -> None:
    """Remove USER from project NAME."""
    wb = open_workbench(workspace)
    wb.projects.remove_member(name, user, acting(wb), client="cli")
    click.echo(f"Removed {user} from project {name}")


# -- env -------------------------------------------------------------------------------


def project_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--project",
        "-p",
        help="Project name [default: the project holding the current folder, else "
        "ATELIER_PROJECT].",
    )(func)


def resolve_project(project: str | None) -> str:
    """--project, else the project the current folder is in, else ATELIER_PROJECT."""
    import os

    from atelier.services.projects import project_name_for_cwd

    name = project or project_name_for_cwd(Path.cwd()) or os.environ.get("ATELIER_PROJECT")
    if not name:
        raise click.UsageError(
            "which project? pass --project NAME, run this inside a project folder, or set "
            "ATELIER_PROJECT"
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
    import atelier

    name = resolve_project(project)
    with atelier.connect(workspace=workspace) as ws:
        shown = _with_spinner(
            f"Resolving and installing {' '.join(packages)} in {name}…",
            lambda: ws.env_add(*packages, project=name),
        )
    from atelier.services.projects import requirement_name

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
    import atelier

    name = resolve_project(project)
    with atelier.connect(workspace=workspace) as ws:
        _with_spinner(
            f"Removing {' '.join(packages)} from {name}…",
            lambda: ws.env_remove(*packages, project=name),
        )
    click.echo(f"Removed {' '.join(packages)} from {name}")


@env.command("show")
@workspace_option
@project_option
@click.option("--all", "show_all", is_flag=True, help="Also list indirect dependencies.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def env_show(workspace: str | None, project: str | None, show_all: bool, as_json: bool) -> None:
    """Show the project's requirements and their locked versions."""
    import atelier

    name = resolve_project(project)
    with atelier.connect(workspace=workspace) as ws:
        shown = ws.env_show(name)
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
    """Make the local environment match uv.lock again (e.g. after editing it by hand)."""
    name = resolve_project(project)
    wb = open_workbench(workspace, scopes=("projects",))
    owner = acting(wb)
    _with_spinner(f"Syncing {name}…", lambda: wb.projects.env.sync(name, owner))
    click.echo(f"Environment of {name} matches its uv.lock")


def register(group: click.Group) -> None:
    """Add the commands to ``group``."""
    group.add_command(projects)
    group.add_command(env)

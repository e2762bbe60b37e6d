"""Options shared by many commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

import click

from atelier.sdk.rules import BUILDERS, local_admin_notice, require

if TYPE_CHECKING:
    from pathlib import Path

    from atelier.sdk.client import Client
    from atelier.sdk.embedded import EmbeddedClient
    from atelier.services.auth import Principal
    from atelier.services.workbench import Workbench

F = TypeVar("F", bound=Callable[..., Any])


def workspace_option(func: F) -> F:
    return click.option(
        "--workspace",
        "-w",
        envvar="ATELIER_WORKSPACE",
        type=click.Path(file_okay=False),
        help="Workspace folder [env: ATELIER_WORKSPACE; default: the current folder or a parent].",
    )(func)


_acting: WeakKeyDictionary[Workbench, Principal] = WeakKeyDictionary()


def open_workbench(
    workspace: str | None,
    *,
    roles: Sequence[str] = BUILDERS,
    doing: str = "use this command",
    scopes: Sequence[str] = (),
) -> Workbench:
    """The workspace's services, for the commands of the machine that holds it (``up``,
    ``serve``, ``notebook``, accounts on a fresh workspace), after deciding who the command acts
    as (:func:`acting`) and refusing a role the API would refuse too. ``scopes``: those of a
    code token (a job's, a notebook's, an app's) that admit the command, as the API's routes
    declare them; a command that names none is closed to code tokens."""
    from atelier.config import find_workspace

    client = _embedded(find_workspace(workspace), roles, doing, scopes, label="cli")
    _acting[client.workbench] = client.principal
    return client.workbench


def client_for(
    workspace: str | None,
    *,
    roles: Sequence[str] = BUILDERS,
    doing: str = "use this command",
    scopes: Sequence[str] = (),
) -> Client:
    """The SDK client a command works through: remote with ``ATELIER_URL`` and
    ``ATELIER_TOKEN`` (the server applies its rules), else embedded on the workspace, acting as
    ATELIER_TOKEN's user or the local admin, held to the same role and scope rules as the API's
    routes (``roles``, ``scopes``: as in :func:`open_workbench`). Close it (``with``)."""
    from atelier.sdk.connect import connect

    client = connect(workspace=workspace, client="cli")
    if is_remote(client):
        return client  # the server applies its rules (and the light client has no services)
    from atelier.sdk.embedded import EmbeddedClient

    if isinstance(client, EmbeddedClient):
        _check(client, roles, doing, scopes)
    return client


def is_remote(client: Client) -> bool:
    """Whether ``client`` talks to a server (without importing the HTTP client for the
    embedded one: a remote client's module is loaded whenever one exists)."""
    remote = sys.modules.get("atelier.sdk.remote")
    return remote is not None and isinstance(client, remote.RemoteClient)


def _embedded(
    root: Path, roles: Sequence[str], doing: str, scopes: Sequence[str], *, label: str
) -> EmbeddedClient:
    from atelier.config import Workspace
    from atelier.sdk.embedded import EmbeddedClient

    client = EmbeddedClient(Workspace.open(root), os.environ.get("ATELIER_TOKEN"), client=label)
    _check(client, roles, doing, scopes)
    return client


def _check(client: EmbeddedClient, roles: Sequence[str], doing: str, scopes: Sequence[str]) -> None:
    """The local admin notice, then the API's role and scope rules (closing on refusal)."""
    try:
        principal = client.principal
        notice = local_admin_notice(principal)
        if notice:
            click.echo(notice, err=True)  # stderr: --json output on stdout stays machine-readable
        require(principal, roles, doing, scopes)
    except BaseException:
        client.close()
        raise


def acting(wb: Workbench) -> Principal:
    """The person this command acts as: ATELIER_TOKEN's user, or the local admin."""
    return _acting[wb]


def read_password(from_stdin: bool, prompt: str = "Password") -> str:
    if from_stdin:
        password = sys_stdin_line()
        if not password:
            raise click.UsageError("--password-stdin given but standard input was empty")
        return password
    value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return value


def sys_stdin_line() -> str:
    import sys

    return sys.stdin.readline().rstrip("\r\n")

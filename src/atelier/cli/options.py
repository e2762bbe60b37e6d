"""Options shared by many commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
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


def open_workbench(workspace: str | None) -> Workbench:
    from atelier.config import Workspace, find_workspace
    from atelier.services.workbench import Workbench

    return Workbench(Workspace.open(find_workspace(workspace)))


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

"""Entry point: the command group, one-line errors, and the sub-command modules.

A command's module is imported when the command is used (or for the full help): `atelier run`
loads the jobs commands, not the twenty other modules and what they import.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from atelier import __version__

#: Each top-level command and the module of ``atelier.cli`` whose ``register(group)`` adds it.
COMMANDS = {
    "activity": "discussion",
    "apps": "apps",
    "audit": "accounts",
    "comments": "discussion",
    "config": "workspace",
    "data": "data",
    "demo": "workspace",
    "env": "projects",
    "features": "features",
    "init": "workspace",
    "jobs": "jobs",
    "login": "login",
    "login-link": "workspace",
    "logout": "login",
    "models": "models",
    "notebook": "notebook",
    "pii": "pii",
    "profiles": "jobs",
    "projects": "projects",
    "run": "jobs",
    "serve": "serve",
    "sources": "sources",
    "sql": "sql",
    "tokens": "accounts",
    "up": "workspace",
    "users": "accounts",
    "webhooks": "discussion",
    "whoami": "login",
}


class AtelierGroup(click.Group):
    """Turns user errors into one line on stderr and exit code 1 (2 for bad usage); loads each
    command's module when the command is first asked for (:data:`COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"atelier.cli.{COMMANDS[cmd_name]}").register(self)
        return self.commands.get(cmd_name)

    def main(  # type: ignore[override]
        self, args: list[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> Any:
        from atelier.errors import AtelierError

        try:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "atelier"
            click.echo(f"error: {exc.format_message()} (see `{command} --help`)", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except AtelierError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except ModuleNotFoundError as exc:
            if not exc.name or exc.name.split(".")[0] == "atelier":
                raise
            # The light client (`pip install atelier`) working on a workspace itself.
            click.echo(
                f"error: this needs the server's packages ({exc.name} is not installed): "
                "pip install 'atelier[server]', or reach a server with `atelier login URL`",
                err=True,
            )
            sys.exit(1)


@click.group(cls=AtelierGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="atelier")
def cli() -> None:
    """Atelier: a self-hosted workbench for data scientists.

    Start with `atelier init` (or `atelier up --demo`), then `atelier up`.
    """


def main() -> None:
    cli(prog_name="atelier")

"""Entry point: the command group, one-line errors, and the sub-command modules."""

from __future__ import annotations

import sys
from typing import Any

import click

from atelier import __version__
from atelier.cli import (
    accounts,
    apps,
    data,
    discussion,
    features,
    jobs,
    login,
    models,
    notebook,
    pii,
    projects,
    serve,
    sources,
    sql,
    upload,
    workspace,
)


class AtelierGroup(click.Group):
    """Turns user errors into one line on stderr and exit code 1 (2 for bad usage)."""

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


workspace.register(cli)
accounts.register(cli)
login.register(cli)
cli.add_command(data.data)
data.data.add_command(upload.upload)
sql.register(cli)
sources.register(cli)
features.register(cli)
jobs.register(cli)
projects.register(cli)
notebook.register(cli)
models.register(cli)
apps.register(cli)
pii.register(cli)
discussion.register(cli)
cli.add_command(serve.serve)


def main() -> None:
    cli(prog_name="atelier")

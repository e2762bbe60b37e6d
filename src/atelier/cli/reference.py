"""Generate ``docs/cli.md`` from the commands' own ``--help`` (``make docs``)."""

from __future__ import annotations

import click

from atelier.cli.main import cli


def _helps(
    command: click.Command, name: str, parent: click.Context | None
) -> list[tuple[str, str]]:
    """Each command's help as users see it: in a context under its group's, so settings such
    as ``-h`` reach every sub-command (and no cached state of an earlier call matters)."""
    settings = {"terminal_width": 100, "max_content_width": 100, **command.context_settings}
    with click.Context(command, info_name=name, parent=parent, **settings) as ctx:
        found = [(ctx.command_path, command.get_help(ctx))]
        if isinstance(command, click.Group):
            for sub in command.list_commands(ctx):
                found.extend(_helps(_command(command, ctx, sub), sub, ctx))
    return found


def _command(group: click.Group, ctx: click.Context, name: str) -> click.Command:
    command = group.get_command(ctx, name)  # the top level loads its modules on demand
    if command is None:
        raise LookupError(f"{ctx.command_path} lists {name!r} but has no such command")
    return command


def render() -> str:
    parts = [
        "# CLI reference",
        "",
        "Generated from `--help` by `make docs`; do not edit by hand.",
        "",
    ]
    for path, text in _helps(cli, "atelier", None):
        parts += [f"## `{path}`", "", "```text", text, "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")

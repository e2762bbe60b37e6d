"""Generate ``docs/cli.md`` from the commands' own ``--help`` (``make docs``)."""

from __future__ import annotations

import click

from atelier.cli.main import cli


def _walk(command: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found.extend(_walk(command.commands[name], [*path, name]))
    return found


def render() -> str:
    parts = [
        "# CLI reference",
        "",
        "Generated from `--help` by `make docs`; do not edit by hand.",
        "",
    ]
    for path, command in _walk(cli, ["atelier"]):
        with click.Context(
            command, info_name=" ".join(path), terminal_width=100, max_content_width=100
        ) as ctx:
            text = command.get_help(ctx)
        parts += [f"## `{' '.join(path)}`", "", "```text", text, "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")

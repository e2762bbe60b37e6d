"""What a job runs: a script, a notebook or a command, and its parameters."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from atelier.errors import InvalidInput

Kind = Literal["script", "notebook", "command"]


@dataclass(frozen=True)
class Target:
    kind: Kind
    name: str
    #: The script or notebook file; None for a command.
    path: Path | None
    #: The command's arguments, or the script's own arguments after its name.
    args: tuple[str, ...]


def resolve_target(target: list[str], *, cwd: Path, project_dir: Path | None) -> Target:
    """``["train.py", ...]``, ``["analysis.ipynb"]`` or ``["command", "arg", ...]``.

    A script or notebook is looked for relative to ``cwd``, then in the project's folder."""
    if not target or not target[0].strip():
        raise InvalidInput(
            "nothing to run: give a script (.py), a notebook (.ipynb) or -- a command"
        )
    first = target[0]
    if first.endswith((".py", ".ipynb")):
        candidates = [Path(first)] if Path(first).is_absolute() else [cwd / first]
        if project_dir is not None and not Path(first).is_absolute():
            candidates.append(project_dir / first)
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            places = " or ".join(str(c.parent) for c in candidates)
            raise InvalidInput(f"{first}: no such file (looked in {places})")
        kind: Kind = "notebook" if first.endswith(".ipynb") else "script"
        return Target(kind, found.name, found.resolve(), tuple(target[1:]))
    return Target("command", command_name(target), None, tuple(target))


#: Interpreters whose job is better named after what they run: ``python score.py`` is "score.py".
_INTERPRETER = re.compile(r"^(python|pypy|ipython)[0-9.]*$")
#: Interpreter options followed by a value, skipped when looking for the script.
_OPTION_WITH_VALUE = {"-W", "-X", "-Q"}


def command_name(command: list[str]) -> str:
    """A command job's name: the program's file name, or for an interpreter the script,
    notebook or module it runs (``python -u score.py`` -> ``score.py``, ``python -m pkg.train``
    -> ``pkg.train``)."""
    program = Path(command[0]).name
    if not _INTERPRETER.match(program):
        return program
    args = iter(command[1:])
    for arg in args:
        if arg == "-m":
            return next(args, program) or program
        if arg == "-c" or arg == "-":
            return program
        if arg in _OPTION_WITH_VALUE:
            next(args, None)
            continue
        if arg.startswith("-"):
            continue
        return Path(arg).name or program
    return program


def parse_params(pairs: list[str] | dict[str, Any]) -> dict[str, Any]:
    """``["lr=0.01", "name=run a"]`` -> ``{"lr": 0.01, "name": "run a"}``: values that read as
    JSON (numbers, true/false, lists) keep that type, anything else is a string."""
    if isinstance(pairs, dict):
        items = list(pairs.items())
    else:
        items = []
        for pair in pairs:
            name, sep, text = pair.partition("=")
            if not sep:
                raise InvalidInput(f"parameter {pair!r}: write NAME=VALUE, e.g. lr=0.01")
            try:
                value: Any = json.loads(text)
            except ValueError:
                value = text
            items.append((name.strip(), value))
    for name, _ in items:
        if not name.isidentifier():
            raise InvalidInput(
                f"parameter name {name!r}: use a Python identifier (letters, digits, _)"
            )
    return dict(items)


def argv_for(
    target: Target, params: dict[str, Any], *, python: str, output: Path | None
) -> list[str]:
    """The argument vector that runs ``target`` with ``python`` (the project's interpreter)."""
    if target.kind == "script":
        assert target.path is not None
        flags = [f"--{name}={_flag_value(value)}" for name, value in params.items()]
        return [python, "-u", str(target.path), *target.args, *flags]
    if target.kind == "notebook":
        assert target.path is not None and output is not None
        return [
            # The runner needs nbclient (Atelier's own environment); the kernel is the project's.
            sys.executable,
            "-m",
            "atelier.services.jobs.notebook",
            str(target.path),
            str(output),
            "--python",
            python,
            "--params",
            json.dumps(params),
        ]
    return list(target.args)


def check_command(target: Target, path: str) -> None:
    if target.kind != "command":
        return
    program = target.args[0]
    if os.sep in program:
        if not Path(program).exists():
            raise InvalidInput(f"{program}: no such command")
    elif shutil.which(program, path=path) is None:
        raise InvalidInput(f"{program}: command not found on the job's PATH")


def _flag_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)

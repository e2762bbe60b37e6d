"""The command line, run as users run it: a subprocess, one-line errors, exit codes."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.cli.helpers import atelier, one_line_error


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from atelier.cli.main import cli; "
        "heavy = {'fastapi', 'sqlalchemy', 'pydantic', 'uvicorn', 'duckdb', 'pandas', 'httpx'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_each_command_comes_from_the_module_the_table_names() -> None:
    from atelier.cli.main import COMMANDS

    found: dict[str, str] = {}
    for module in sorted(set(COMMANDS.values())):
        group = click.Group()
        importlib.import_module(f"atelier.cli.{module}").register(group)
        found.update(dict.fromkeys(group.commands, module))
    assert found == COMMANDS


def test_a_command_loads_its_own_module_only() -> None:
    code = (
        "import contextlib, sys\n"
        "from atelier.cli.main import cli\n"
        "with contextlib.suppress(SystemExit):\n"
        "    cli(['jobs', '--help'], prog_name='atelier')\n"
        "print(sorted(m for m in sys.modules if m.startswith('atelier.cli.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(ast.literal_eval(result.stdout.splitlines()[-1]))
    assert "atelier.cli.jobs" in loaded
    assert not loaded & {"atelier.cli.apps", "atelier.cli.models", "atelier.cli.sql"}


def test_init_users_tokens_audit(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert "Created workspace" in atelier("init", str(ws)).stdout
    created = atelier(
        "users",
        "create",
        "ada",
        "--role",
        "scientist",
        "--password-stdin",
        cwd=ws,
        stdin="a long enough password\n",
    )
    assert created.returncode == 0, created.stderr
    token = atelier("tokens", "create", "--user", "ada", "--name", "laptop", cwd=ws)
    assert token.stdout.startswith("atl_") and "not shown again" in token.stderr
    listed = atelier("tokens", "list", cwd=ws).stdout
    assert "laptop" in listed and token.stdout.strip() not in listed
    key = token.stdout.split("_")[1]
    assert "Revoked" in atelier("tokens", "revoke", key, cwd=ws).stdout
    assert "ada" in atelier("users", "list", cwd=ws).stdout
    log = atelier("audit", cwd=ws).stdout
    assert "token.revoke" in log and "user.create" in log
    assert "(admin, via local)" in atelier("whoami", cwd=ws).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "create", "ada", "--role", "boss"), "'boss' is not one of"),
        (
            ("users", "create", "ada", "--role", "viewer", "--password-stdin"),
            "standard input was empty",
        ),
        (("users", "set-role", "nobody", "viewer"), "user 'nobody' not found"),
        (("tokens", "create", "--days", "0"), "0 is not in the range"),
        (("tokens", "revoke", "nope"), "token 'nope' not found"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("up", "--port", "http"), "'http' is not a valid integer"),
    ],
)
def test_bad_input_gives_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    atelier("init", str(tmp_path))
    assert message in one_line_error(atelier(*args, cwd=tmp_path, stdin=""))


def test_no_workspace(tmp_path: Path) -> None:
    assert "run `atelier init`" in one_line_error(atelier("users", "list", cwd=tmp_path))


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    atelier("init", str(tmp_path))
    (tmp_path / "atelier.toml").write_text("[server]\nport = 'x'\n")
    line = one_line_error(atelier("config", cwd=tmp_path))
    assert "atelier.toml: server.port" in line
    env_line = one_line_error(atelier("up", cwd=tmp_path, env={"ATELIER_SERVER_MODE": "x"}))
    assert "ATELIER_SERVER_MODE" in env_line


def test_config_shows_merged_settings(tmp_path: Path) -> None:
    atelier("init", str(tmp_path))
    result = atelier("config", cwd=tmp_path, env={"ATELIER_SERVER_PORT": "8801"})
    assert '"port": 8801' in result.stdout


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    atelier("init", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(atelier("up", "--port", str(port), cwd=tmp_path))
    assert f"cannot listen on 127.0.0.1:{port}" in line

"""``%load_ext atelier``: the %%sql and %atelier_env magics in a real IPython shell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from atelier.ipython import changes, interpolate, parse_sql_line
from tests.cli.helpers import workspace_with


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    root = workspace_with(
        tmp_path_factory.mktemp("ipy"),
        "CREATE TABLE lake.main.loans AS SELECT range AS id, range * 10 AS amount FROM range(5)",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATELIER_WORKSPACE", str(root))
        patch.delenv("ATELIER_URL", raising=False)
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "atelier")
        yield shell
        magics = shell.magics_manager.registry["AtelierMagics"]
        if magics._client is not None:
            magics._client.close()
        InteractiveShell.clear_instance()


def run_cell(shell: InteractiveShell, code: str) -> Any:
    result = shell.run_cell(code)
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result.result


def test_sql_cell_returns_a_dataframe(shell: InteractiveShell) -> None:
    frame = run_cell(shell, "%%sql\nSELECT id, amount FROM loans ORDER BY id")
    assert type(frame).__name__ == "DataFrame"
    assert frame["amount"].tolist() == [0, 10, 20, 30, 40]


def test_sql_cell_into_a_variable_with_placeholders(shell: InteractiveShell) -> None:
    shell.user_ns["minimum"] = 25
    assert run_cell(shell, "%%sql big <<\nSELECT id FROM loans WHERE amount > {{minimum}}") is None
    assert shell.user_ns["big"]["id"].tolist() == [3, 4]
    table = run_cell(shell, "%%sql --format arrow\nSELECT count(*) AS n FROM loans")
    assert table.column("n").to_pylist() == [5]


def test_sql_errors_are_one_clear_line(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="no_such_table"):
        run_cell(shell, "%%sql\nSELECT * FROM no_such_table")
    with pytest.raises(UsageError, match="names no variable"):
        run_cell(shell, "%%sql\nSELECT {{undefined_here}}")


def test_parse_sql_line() -> None:
    assert parse_sql_line("") == (None, "pandas")
    assert parse_sql_line("df <<") == ("df", "pandas")
    assert parse_sql_line("df<< --format polars") == ("df", "polars")
    with pytest.raises(UsageError, match="unknown format"):
        parse_sql_line("--format excel")
    with pytest.raises(UsageError, match="did not understand"):
        parse_sql_line("SELECT 1")


def test_interpolation_leaves_struct_literals_alone() -> None:
    assert interpolate("SELECT {'a': {{x}}}", {"x": 1}) == "SELECT {'a': 1}"


def test_env_magic_needs_a_verb(shell: InteractiveShell) -> None:
    with pytest.raises(UsageError, match="usage: %atelier_env"):
        run_cell(shell, "%atelier_env install six")
    with pytest.raises(UsageError, match="name at least one package"):
        run_cell(shell, "%atelier_env add")


def test_env_changes_are_listed() -> None:
    before = {"packages": [{"name": "six", "version": "1.16.0"}, {"name": "a", "version": "1"}]}
    after = {"packages": [{"name": "six", "version": "1.17.0"}, {"name": "b", "version": "2"}]}
    assert changes(before, after) == [
        ("a", "1", None),
        ("b", None, "2"),
        ("six", "1.16.0", "1.17.0"),
    ]


def test_import_atelier_stays_light() -> None:
    import subprocess
    import sys

    code = "import atelier, sys; print(any(m.startswith('IPython') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

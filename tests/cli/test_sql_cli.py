"""``atelier sql``: every format, files written whole, one-line errors (in-process, for speed),
then as users run it, in a subprocess. Against a running server (ATELIER_URL, rows as Arrow):
tests/cli/test_upload.py, which runs the data commands both ways."""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from atelier.cli.main import cli
from tests.cli.helpers import atelier, error_lines, one_line_error, workspace_with
from tests.services.query.running import ENDLESS

QUERY = "SELECT order_id, region, total FROM shop.orders ORDER BY order_id"


#: A private copy of the command tree: click caches per command how its help option is named,
#: and an invocation here must not change the help that tests/test_docs.py renders.
CLI = copy.deepcopy(cli)


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(CLI, ["sql", *args], input=stdin, env={"ATELIER_URL": None})


def error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return workspace_with(
        tmp_path,
        "CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT * FROM (VALUES "
        "(1, 'north', 9.5), (2, 'south', NULL)) t(order_id, region, total)",
    )


def test_table_csv_json(ws: Path) -> None:
    shown = run(QUERY, "-w", str(ws))
    assert shown.exit_code == 0, shown.stderr
    assert "order_id" in shown.stdout and "south" in shown.stdout and "NULL" in shown.stdout
    assert "2 rows" in shown.stdout

    as_csv = run(QUERY, "--format", "csv", "-w", str(ws))
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["order_id", "region", "total"],
        ["1", "north", "9.5"],
        ["2", "south", ""],
    ]
    as_json = run(QUERY, "-f", "json", "-w", str(ws))
    assert json.loads(as_json.stdout) == [
        {"order_id": 1, "region": "north", "total": 9.5},
        {"order_id": 2, "region": "south", "total": None},
    ]
    empty = run("SELECT 1 AS x WHERE false", "-f", "json", "-w", str(ws))
    assert json.loads(empty.stdout) == []
    from_stdin = run("-", "-f", "csv", "-w", str(ws), stdin="SELECT 42 AS answer")
    assert from_stdin.stdout.splitlines() == ['"answer"', "42"]


def test_files_parquet_and_a_long_table(ws: Path, tmp_path: Path) -> None:
    usage = run(QUERY, "-f", "parquet", "-w", str(ws))
    assert usage.exit_code == 2 and "--format parquet needs --output" in usage.stderr

    target = tmp_path / "orders.parquet"
    written = run(QUERY, "-f", "parquet", "-o", str(target), "-w", str(ws))
    assert written.exit_code == 0, written.stderr
    assert pq.read_table(target).to_pylist()[0] == {"order_id": 1, "region": "north", "total": 9.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.parquet", "ws"]

    # A failing query leaves no file behind, not even a partial one.
    failed = run("SELECT error('boom')", "-f", "csv", "-o", str(tmp_path / "x.csv"), "-w", str(ws))
    assert "boom" in error_line(failed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.parquet", "ws"]

    long = run("SELECT range AS n FROM range(250)", "-w", str(ws))
    assert "250 rows (first 100 shown" in long.stdout
    assert "│ 99 │" in long.stdout and "│ 100 │" not in long.stdout


def test_errors_are_one_line(ws: Path) -> None:
    syntax = error_line(run("SELECT 1,\n FROM WHERE", "-w", str(ws)))
    assert "syntax error" in syntax and syntax.endswith("(line 2, column 7)")
    refused = error_line(run("SELECT * FROM read_csv('/etc/passwd')", "-w", str(ws)))
    assert "not available in user SQL" in refused
    timeout = error_line(run(ENDLESS, "--timeout", "0.3", "-w", str(ws)))
    assert "ran longer than its 0.3 s timeout" in timeout


def test_as_a_subprocess(ws: Path) -> None:
    shown = atelier("sql", QUERY, "-f", "csv", cwd=ws)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[1] == '1,"north",9.5'
    assert "syntax error" in one_line_error(atelier("sql", "SELEC", cwd=ws))

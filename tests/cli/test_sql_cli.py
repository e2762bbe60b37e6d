"""``atelier sql`` as users run it: every format, files written whole, one-line errors, and the
same command against a running server (ATELIER_URL, rows as Arrow)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench
from tests.cli.test_cli import atelier, one_line_error
from tests.conftest import start_server
from tests.services.query.running import ENDLESS

QUERY = "SELECT order_id, region, total FROM shop.orders ORDER BY order_id"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root, _ = init_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        wb.warehouse.run_write(
            lambda c: c.execute(
                "CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT * FROM (VALUES "
                "(1, 'north', 9.5), (2, 'south', NULL)) t(order_id, region, total)"
            ),
            author="ada",
        )
    finally:
        wb.close()
    return root


def test_table_csv_json(ws: Path) -> None:
    shown = atelier("sql", QUERY, "-w", str(ws))
    assert shown.returncode == 0, shown.stderr
    assert "order_id" in shown.stdout and "south" in shown.stdout and "NULL" in shown.stdout
    assert "2 rows" in shown.stdout

    as_csv = atelier("sql", QUERY, "--format", "csv", "-w", str(ws))
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [
        ["order_id", "region", "total"],
        ["1", "north", "9.5"],
        ["2", "south", ""],
    ]
    as_json = atelier("sql", QUERY, "-f", "json", "-w", str(ws))
    assert json.loads(as_json.stdout) == [
        {"order_id": 1, "region": "north", "total": 9.5},
        {"order_id": 2, "region": "south", "total": None},
    ]
    empty = atelier("sql", "SELECT 1 AS x WHERE false", "-f", "json", "-w", str(ws))
    assert json.loads(empty.stdout) == []
    from_stdin = atelier("sql", "-", "-f", "csv", "-w", str(ws), stdin="SELECT 42 AS answer")
    assert from_stdin.stdout.splitlines() == ['"answer"', "42"]


def test_files_parquet_and_a_long_table(ws: Path, tmp_path: Path) -> None:
    usage = atelier("sql", QUERY, "-f", "parquet", "-w", str(ws))
    assert usage.returncode == 2 and "--format parquet needs --output" in usage.stderr

    target = tmp_path / "orders.parquet"
    written = atelier("sql", QUERY, "-f", "parquet", "-o", str(target), "-w", str(ws))
    assert written.returncode == 0, written.stderr
    assert pq.read_table(target).to_pylist()[0] == {"order_id": 1, "region": "north", "total": 9.5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.parquet", "ws"]

    # A failing query leaves no file behind, not even a partial one.
    failed = atelier(
        "sql", "SELECT error('boom')", "-f", "csv", "-o", str(tmp_path / "x.csv"), "-w", str(ws)
    )
    assert "boom" in one_line_error(failed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.parquet", "ws"]

    long = atelier("sql", "SELECT range AS n FROM range(250)", "-w", str(ws))
    assert "250 rows (first 100 shown" in long.stdout and " 99 " in long.stdout
    assert " 100 " not in long.stdout


def test_errors_are_one_line(ws: Path) -> None:
    syntax = one_line_error(atelier("sql", "SELECT 1,\n FROM", "-w", str(ws)))
    assert "syntax error" in syntax and syntax.endswith("(line 2, column 2)")
    refused = one_line_error(atelier("sql", "SELECT * FROM read_csv('/etc/passwd')", "-w", str(ws)))
    assert "disabled by configuration" in refused
    timeout = one_line_error(atelier("sql", ENDLESS, "--timeout", "0.3", "-w", str(ws)))
    assert "ran longer than its 0.3 s timeout" in timeout


def test_remote_with_atelier_url(ws: Path) -> None:
    wb = Workbench(Workspace.open(ws, environ={}))
    try:
        wb.users.create("ada", "scientist", "correct horse battery")
        token = wb.tokens.create("ada", "cli", 1)[1]
        server = start_server(wb.workspace)
        try:
            env = {"ATELIER_URL": server.url, "ATELIER_TOKEN": token}
            remote = atelier("sql", QUERY, "-f", "csv", env=env, cwd=ws.parent)
            assert remote.returncode == 0, remote.stderr
            assert remote.stdout.splitlines()[1:] == ["1,\"north\",9.5", "2,\"south\","]
            assert wb.query.history("ada")[0].sql == QUERY
            refused = atelier("sql", "INSTALL httpfs", env=env, cwd=ws.parent)
            assert "may not run here (HTTP 403)" in one_line_error(refused)
            no_token = atelier("sql", "SELECT 1", env={"ATELIER_URL": server.url})
            assert "ATELIER_TOKEN is not set" in one_line_error(no_token)
        finally:
            server.stop()
    finally:
        wb.close()

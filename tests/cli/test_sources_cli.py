"""``atelier sources``: add, list, test, remove; passwords come from stdin and never show."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from atelier.config import init_workspace
from tests.cli.helpers import atelier, one_line_error
from tests.services.catalog.servers import mysql_table

PASSWORD = "Cli-Secret-Pa55-77"


def test_add_list_test_remove(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "ws")
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")
    w = ("-w", str(ws))
    added = atelier("sources", "add", "legacy", "--type", "sqlite", "--path", str(path), *w)
    assert added.returncode == 0, added.stderr
    assert "Added sqlite source legacy with 1 table(s)" in added.stdout
    assert "legacy.main.orders" in added.stdout
    listed = json.loads(atelier("sources", "list", "--json", *w).stdout)
    assert [s["name"] for s in listed] == ["legacy"]
    assert "legacy.main.orders" in atelier("sources", "test", "legacy", *w).stdout
    assert "legacy.main.orders" in atelier("data", "list", *w).stdout

    error = one_line_error(
        atelier("sources", "add", "legacy", "--type", "sqlite", "--path", str(path), *w)
    )
    assert "already exists" in error
    assert "Removed source legacy" in atelier("sources", "remove", "legacy", "--yes", *w).stdout
    assert "No sources." in atelier("sources", "list", *w).stdout
    assert "no source named 'legacy'" in one_line_error(atelier("sources", "test", "legacy", *w))


def test_password_from_stdin_is_never_printed(tmp_path: Path) -> None:
    ws, _ = init_workspace(tmp_path / "ws")
    from atelier.config import Workspace
    from atelier.services.workbench import Workbench

    wb = Workbench(Workspace.open(ws, environ={}))
    try:
        extensions = wb.warehouse.extension_directory
        with mysql_table(extensions) as (options, _):
            result = atelier(
                "sources",
                "add",
                "shop",
                "--type",
                "mysql",
                "--host",
                options["host"],
                "--port",
                str(options["port"]),
                "--database",
                options["database"],
                "--user",
                "atelier_nobody",
                "--password-stdin",
                "-w",
                str(ws),
                stdin=PASSWORD + "\n",
            )
        error = one_line_error(result)
        assert "could not connect to the mysql source 'shop'" in error
        assert PASSWORD not in result.stdout + result.stderr
        assert wb.sources.list() == []
    finally:
        wb.close()

"""``atelier sources``: add, list, test, remove; passwords come from stdin and never show."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from atelier.config import init_workspace
from atelier.services.auth.scopes import WORK
from tests.cli.conftest import Cli
from tests.cli.helpers import atelier, one_line_error
from tests.services.catalog.servers import mysql_table, postgres_source

PASSWORD = "Cli-Secret-Pa55-77"


def test_add_list_test_remove(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER)")
    legacy = ("sources", "add", "legacy", "--type", "sqlite", "--path", str(path))
    added = cli(*legacy)
    assert added.returncode == 0, added.stderr
    assert "Added sqlite source legacy with 1 table(s)" in added.stdout
    assert "legacy.main.orders" in added.stdout
    # Only admins attach sources: not a scientist, nor code acting for an admin.
    assert "may not" in one_line_error(cli.as_("sam")(*legacy[:2], "other", *legacy[3:]))
    wb = cli.workbench()
    try:
        job = wb.tokens.create_for("ada", "job 9", WORK, timedelta(hours=1))[1]
    finally:
        wb.close()
    coded = one_line_error(cli(*legacy[:2], "other", *legacy[3:], env={"ATELIER_TOKEN": job}))
    assert "the token 'job 9'" in coded and "for code and may not" in coded

    with postgres_source() as options:
        crm = cli(
            "sources", "add", "crm", "--type", "postgres", "--host", options["host"],
            "--port", str(options["port"]), "--database", options["database"],
            "--user", options["user"], "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert crm.returncode == 0, crm.stderr
        assert "crm.crm.customers" in crm.stdout and PASSWORD not in crm.stdout + crm.stderr
        listed = cli.as_("sam")("sources", "list", "--json")
        assert PASSWORD not in listed.stdout + listed.stderr
        found = {s["name"]: s for s in json.loads(listed.stdout)}
        assert sorted(found) == ["crm", "legacy"]
        assert found["crm"]["secret_fields"] == ["password"] and "secrets" not in found["crm"]
        assert "crm.crm.customers" in cli.as_("sam")("sources", "test", "crm").stdout
        assert "Removed source crm" in cli("sources", "remove", "crm", "--yes").stdout

    assert "legacy.main.orders" in cli.as_("sam")("data", "list").stdout
    error = one_line_error(cli(*legacy))
    assert "already exists" in error
    assert "may not" in one_line_error(cli.as_("sam")("sources", "remove", "legacy", "--yes"))
    assert "Removed source legacy" in cli("sources", "remove", "legacy", "--yes").stdout
    assert "No sources." in cli("sources", "list").stdout
    assert "no source named 'legacy'" in one_line_error(cli("sources", "test", "legacy"))

    wb = cli.workbench()
    try:
        entries = [e for e in wb.audit.entries(limit=50) if e.action.startswith("source.")]
    finally:
        wb.close()
    assert [(e.action, e.actor, e.target, e.success) for e in reversed(entries)] == [
        ("source.add", "ada", "legacy", True),
        ("source.add", "ada", "crm", True),
        ("source.remove", "ada", "crm", True),
        ("source.add", "ada", "legacy", False),
        ("source.remove", "ada", "legacy", True),
    ]
    assert PASSWORD not in json.dumps([e.as_dict() for e in entries], default=str)


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

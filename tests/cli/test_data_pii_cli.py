"""``atelier data pii``: the PII tags of a table's columns, embedded and remote alike."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa

from atelier.services.auth import Principal
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error

N = 90
PEOPLE = pa.table(
    {
        "id": list(range(N)),
        "email": [f"client{i}@example.com" for i in range(N)],
        "iban": ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
        * (N // 3),
        "plan": ["basic", "plus", "pro"] * (N // 3),
    }
)


def test_show_confirm_remove_and_sources(cli: Cli, tmp_path: Path) -> None:
    wb = cli.workbench()
    try:
        wb.ingest.upload(PEOPLE, "crm.people", principal=Principal(1, "ada", "admin", "token"))
    finally:
        wb.close()
    shown = cli.as_("sam")("data", "pii", "crm.people")
    assert shown.returncode == 0, shown.stderr
    assert "crm.people: 2 PII tag(s)" in shown.stdout
    assert "email, suggested" in shown.stdout and "iban, suggested" in shown.stdout

    # Refused: a scientist changing someone else's table, a viewer, a made-up kind or column.
    assert "only its owner (ada)" in one_line_error(
        cli.as_("sam")("data", "pii", "crm.people", "--remove", "email")
    )
    assert "viewer" in one_line_error(
        cli.as_("vic")("data", "pii", "crm.people", "--confirm", "email", "email")
    )
    assert "PII kind 'laser' is not known" in one_line_error(
        cli("data", "pii", "crm.people", "--confirm", "email", "laser")
    )
    assert "has no column 'nope'" in one_line_error(
        cli("data", "pii", "crm.people", "--confirm", "nope", "email")
    )

    done = cli(
        "data", "pii", "crm.people", "--confirm", "email", "email", "--remove", "iban",
        "--personal", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["personal"] and result["marked_by"] == "ada"
    assert [(c["column"], c["state"]) for c in result["columns"]] == [("email", "confirmed")]
    show = cli.as_("sam")("data", "show", "crm.people")
    assert "personal data (marked by ada)" in show.stdout
    assert "[PII email, confirmed by ada]" in show.stdout

    # A newly attached source's tables are classified (from their first rows).
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE contacts (id INTEGER, mail TEXT)")
        rows = [(i, f"p{i}@example.org") for i in range(50)]
        db.executemany("INSERT INTO contacts VALUES (?, ?)", rows)
    added = cli("sources", "add", "legacy", "--type", "sqlite", "--path", str(path))
    assert added.returncode == 0, added.stderr
    source = cli.as_("sam")("data", "pii", "legacy.main.contacts")
    assert source.returncode == 0, source.stderr
    assert "mail" in source.stdout and "email, suggested" in source.stdout

    # Removing the source forgets its tables' tags.
    assert "Removed source legacy" in cli("sources", "remove", "legacy", "--yes").stdout
    wb = cli.workbench()
    try:
        assert wb.pii_tags.stored("legacy.main.contacts").columns == ()
        assert wb.pii_tags.stored("crm.people").columns != ()
    finally:
        wb.close()

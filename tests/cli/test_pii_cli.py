"""``atelier pii rules`` and ``atelier pii grants list|add|revoke``, embedded and remote."""

from __future__ import annotations

import json
from datetime import timedelta

from atelier.services.auth.scopes import WORK
from tests.cli.conftest import Cli
from tests.cli.helpers import one_line_error


def test_rules_and_grants(cli: Cli) -> None:
    rules = cli.as_("vic")("pii", "rules")
    assert rules.returncode == 0, rules.stderr
    assert "email" in rules.stdout and "pseudonym" in rules.stdout
    assert "partial:4" in rules.stdout

    add = ("pii", "grants", "add", "sam", "--table", "bank.customers", "--reason", "case 42")
    added = cli(*add, "--days", "3")
    assert added.returncode == 0, added.stderr
    assert "Granted:" in added.stdout and "table bank.customers" in added.stdout
    listed = json.loads(cli.as_("sam")("pii", "grants", "list", "--json").stdout)
    assert [(g["user"], g["table"], g["active"]) for g in listed] == [
        ("sam", "bank.customers", True)
    ]

    # Refusals and bad input: one line each.
    assert "sam (scientist) may not grant" in one_line_error(cli.as_("sam")(*add, "--days", "1"))
    assert "may not" in one_line_error(cli.as_("vic")(*add, "--days", "1"))
    assert "at most 90 days" in one_line_error(cli(*add, "--days", "365"))
    assert "in the past" in one_line_error(cli(*add, "--until", "2001-01-01"))
    assert "needs an expiry" in one_line_error(cli(*add))
    wb = cli.workbench()
    try:
        job = wb.tokens.create_for("ada", "job 3", WORK, timedelta(hours=1))[1]
    finally:
        wb.close()
    assert "may not" in one_line_error(cli(*add, "--days", "1", env={"ATELIER_TOKEN": job}))

    revoked = cli("pii", "grants", "revoke", str(listed[0]["id"]))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    assert cli("pii", "grants", "list").stdout.strip() == "no grants"
    assert "revoked" in cli("pii", "grants", "list", "--all").stdout

"""``atelier sql --output FILE.csv|.parquet``: a download through the SDK (audited), with
personal data masked when the file leaves the server without an export grant, embedded (on
the workspace's machine: a raw grant is enough) and remote; and a notebook's token on the
server host, whose SQL reads raw values with a grant while its downloads stay masked."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq

from atelier.services.auth import Principal
from atelier.services.auth import scopes as token_scopes
from atelier.services.pii.grants import grants_of
from tests.cli.conftest import Cli

SQL = "SELECT id, email FROM bank.customers ORDER BY id"
EMAILS = ["ann@example.com", "bob@example.org"]


def _arrange(cli: Cli) -> str:
    """bank.customers with a tagged e-mail column, sam's raw grant (no export); returns a
    notebook token of sam's."""
    wb = cli.workbench()
    try:
        wb.warehouse.run_write(
            lambda c: c.execute(
                "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
                f"(1, '{EMAILS[0]}'), (2, '{EMAILS[1]}')) t(id, email)"
            ),
            author="ada",
        )
        ada = Principal(wb.users.get("ada").id, "ada", "admin", "token")
        wb.pii_tags.confirm(ada, "bank.customers", "email", "email")
        grants_of(wb).grant(ada, "sam", table="bank.customers", reason="case 3", days=1)
        _, token = wb.tokens.create_for(
            "sam", "notebook sam", token_scopes.NOTEBOOK, timedelta(hours=1)
        )
        return token
    finally:
        wb.close()


def _csv_emails(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        return [row["email"] for row in csv.DictReader(handle)]


def _masked(emails: list[str]) -> bool:
    return len(emails) == 2 and not any(e in EMAILS for e in emails)


def test_downloads_leave_the_server_masked_without_an_export_grant(cli: Cli) -> None:
    notebook_token = _arrange(cli)
    sam = cli.as_("sam")

    out = cli.cwd / "customers.csv"
    written = sam("sql", SQL, "--output", str(out))  # the suffix names the format
    assert written.returncode == 0, written.stderr
    assert f"Wrote {out} (2 rows)" in written.stderr
    if cli.remote:
        assert _masked(_csv_emails(out))
    else:  # written on the workspace's machine: the raw grant is enough
        assert _csv_emails(out) == EMAILS

    pq_out = cli.cwd / "customers.parquet"
    written = sam("sql", SQL, "-o", str(pq_out))
    assert written.returncode == 0, written.stderr
    emails = pq.read_table(pq_out).column("email").to_pylist()
    assert _masked(emails) if cli.remote else emails == EMAILS

    # Standard output from a remote client is masked too (the Arrow route).
    shown = sam("sql", SQL, "-f", "csv")
    assert shown.returncode == 0, shown.stderr
    assert any(e in shown.stdout for e in EMAILS) != cli.remote

    # Each file is a download in the audit log, with the format and whether it left.
    wb = cli.workbench()
    try:
        entries = [e for e in wb.audit.entries(action="sql.download") if e.actor == "sam"]
    finally:
        wb.close()
    assert [e.detail["format"] for e in entries] == ["parquet", "csv"]
    assert all(e.detail["remote"] is cli.remote for e in entries)

    # An unknown suffix is a usage error, and nothing is written.
    odd = sam("sql", SQL, "-o", str(cli.cwd / "customers.txt"))
    assert odd.returncode == 2 and "--format" in odd.stderr
    assert not (cli.cwd / "customers.txt").exists()

    if cli.remote:
        # A notebook's token used from the server host (the CLI here runs beside the server,
        # on loopback): SQL reads raw values with the grant; a download still leaves masked.
        nb = {"ATELIER_TOKEN": notebook_token}
        on_host = cli("sql", SQL, "-f", "csv", env=nb)
        assert on_host.returncode == 0, on_host.stderr
        assert all(e in on_host.stdout for e in EMAILS)
        nb_out = cli.cwd / "nb.csv"
        downloaded = cli("sql", SQL, "-o", str(nb_out), env=nb)
        assert downloaded.returncode == 0, downloaded.stderr
        assert _masked(_csv_emails(nb_out))


def test_export_grant_gives_raw_files(cli: Cli) -> None:
    _arrange(cli)
    wb = cli.workbench()
    try:
        ada = Principal(wb.users.get("ada").id, "ada", "admin", "token")
        grants_of(wb).grant(
            ada, "sam", table="bank.customers", reason="export", days=1, export=True
        )
    finally:
        wb.close()
    out = cli.cwd / "raw.csv"
    written = cli.as_("sam")("sql", SQL, "-f", "csv", "-o", str(out))
    assert written.returncode == 0, written.stderr
    assert _csv_emails(out) == EMAILS
    # A viewer may not run SQL, so may not download either.
    refused = cli.as_("vic")("sql", SQL, "-o", str(cli.cwd / "vic.csv"))
    assert refused.returncode == 1 and "error:" in refused.stderr
    assert not (cli.cwd / "vic.csv").exists()

"""``atelier sql`` over a table with personal data, embedded and remote: masked without a
grant (admins too), raw with a grant only on the server, a viewer refused."""

from __future__ import annotations

from atelier.services.auth import Principal
from atelier.services.pii.grants import grants_of
from tests.cli.conftest import Cli

SQL = "SELECT id, email FROM bank.customers ORDER BY id"
EMAILS = ("ann@example.com", "bob@example.org")


def test_sql_masks_personal_columns_and_keeps_raw_values_on_the_server(cli: Cli) -> None:
    wb = cli.workbench()
    try:
        wb.warehouse.run_write(
            lambda c: c.execute(
                "CREATE SCHEMA bank; CREATE TABLE bank.customers AS SELECT * FROM (VALUES "
                f"(1, '{EMAILS[0]}'), (2, '{EMAILS[1]}')) t(id, email)"
            ),
            author="ada",
        )
        user = wb.users.get("ada")
        ada = Principal(user.id, "ada", "admin", "token")
        wb.pii_tags.confirm(ada, "bank.customers", "email", "email")
        grants_of(wb).grant(ada, "sam", table="bank.customers", reason="case 9", days=1)
    finally:
        wb.close()

    as_admin = cli("sql", SQL, "--format", "csv")
    assert as_admin.returncode == 0, as_admin.stderr
    assert not any(e in as_admin.stdout for e in EMAILS)  # admins are not exempt

    as_sam = cli.as_("sam")("sql", SQL, "--format", "csv")
    assert as_sam.returncode == 0, as_sam.stderr
    if cli.remote:  # a raw grant without export: the rows leave the server masked
        assert not any(e in as_sam.stdout for e in EMAILS)
    else:
        assert all(e in as_sam.stdout for e in EMAILS)

    as_vic = cli.as_("vic")("sql", SQL)
    assert as_vic.returncode == 1 and "error:" in as_vic.stderr
    assert not any(e in as_vic.stdout + as_vic.stderr for e in EMAILS)

    profiled = cli("data", "profile", "bank.customers")
    assert profiled.returncode == 0, profiled.stderr
    assert "(personal data: profiled on masked values)" in profiled.stdout
    assert not any(e in profiled.stdout for e in EMAILS)

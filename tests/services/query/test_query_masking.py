"""The query service asks the masking policy for each run: without a principal every tagged
column is masked, and the history keeps the statement as the user wrote it."""

from __future__ import annotations

from atelier.services.auth import Principal
from atelier.services.workbench import Workbench


def test_runs_without_a_principal_are_masked_and_history_keeps_the_users_sql(
    workbench: Workbench,
) -> None:
    wb = workbench
    wb.users.create("ada", "admin", "correct horse battery")
    wb.warehouse.run_write(
        lambda c: c.execute(
            "CREATE TABLE main.people AS SELECT 'ann@example.com' AS email, 7 AS visits"
        ),
        author="ada",
    )
    user = wb.users.get("ada")
    wb.pii_tags.confirm(Principal(user.id, "ada", "admin", "token"), "people", "email", "email")
    sql = "SELECT email, visits FROM people"
    with wb.query.run(sql, user="ada") as result:
        rows = result.to_arrow().to_pylist()
        query_id = result.query_id
    assert rows[0]["visits"] == 7 and rows[0]["email"] != "ann@example.com"
    assert len(rows[0]["email"]) == 16  # a pseudonym
    assert wb.query.get(query_id, "ada").sql == sql
